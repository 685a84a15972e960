"""SQL for one task of Polish and English texts with typos, some with personal data
(scripts/real-llm-check). An argument N keeps only the first N texts."""
import sys

TEXTS = [
    ("pl", "Wczoraj poszłem do sklepu i kupiłem chleb, mleko oraz jabka."),
    ("pl", "Prosze o kontakt pod adresem jan.kowalski@example.pl w sprawie zamowienia."),
    ("pl", "Napewno przyjdziemy na spotkanie, chyba że bedzie padać."),
    ("pl", "Mój numer telefonu to +48 600 100 200, dzwoń po 17."),
    ("pl", "Faktura na NIP 5260250274 zostanie wysłana jutro rano."),
    ("pl", "Ten produkt jest bardzo dobry i polecam go wszytkim znajomym."),
    ("pl", "Zamówienie nr 1234 dotarło uszkodzone, prosze o zwrot pieniędzy."),
    ("pl", "Spotkanie odbedzie się w poniedziałek o godzinie dziesiątej."),
    ("pl", "Przelew na konto PL61109010140000071219812874 został zlecony."),
    ("pl", "Dziekuję za szybką odpowiedz i pomoc w rozwiązaniu problemu."),
    ("en", "Their going to the libary tomorow to returne the books."),
    ("en", "The comittee have not recieved you're application yet."),
    ("en", "Please contact me at anna.smith@example.com about the invoice."),
    ("en", "Its a beautifull day and we should of gone to the park."),
    ("en", "The package was delivered to the wrong adress last week."),
    ("en", "I would like to cancle my subscription as soon as posible."),
    ("en", "Call me on +44 20 7946 0958 if their is any problem."),
    ("en", "The meeting has been moved to next thursday afternoon."),
    ("en", "We recieved you're payment and the order is being proccesed."),
    ("en", "This is definately the best coffe I have ever tasted."),
]
INSTRUCTION = {
    "pl": "Popraw błędy ortograficzne i stylistyczne w poniższym tekście bez zmiany znaczenia.",
    "en": "Correct spelling and grammar mistakes in the text below without changing its meaning.",
}


def quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


keep = int(sys.argv[1]) if len(sys.argv) > 1 else len(TEXTS)
print("INSERT INTO task (id_ai_model, name, description) VALUES "
      f"(1, 'real llm check', {quote(INSTRUCTION['pl'])});")
print("SET @task = LAST_INSERT_ID();")
for lang, text in TEXTS[:keep]:
    print(f"INSERT INTO task_item (id_task, text_original) VALUES (@task, {quote(text)});")
