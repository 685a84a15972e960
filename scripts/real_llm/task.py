"""The labelled set of scripts/real-llm-check: Polish and English texts with typos
(some with personal data), each with the correction a reviewer would accept.

`task.py sql` prints the SQL of two tasks (1: Polish, 2: English, each with its own
instruction); `task.py sql-probe` a third task of 4 texts (the JSON mode found is
used without a probe); `task.py labels` the labels as JSON for report.py."""
import json
import sys

# (language, text, the clean correction: the text with its mistakes fixed, nothing else)
TEXTS = [
    ("pl", "Wczoraj poszłem do sklepu i kupiłem chleb, mleko oraz jabka.",
     "Wczoraj poszedłem do sklepu i kupiłem chleb, mleko oraz jabłka."),
    ("pl", "Prosze o kontakt pod adresem jan.kowalski@example.pl w sprawie zamowienia.",
     "Proszę o kontakt pod adresem jan.kowalski@example.pl w sprawie zamówienia."),
    ("pl", "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.",
     "Na pewno przyjdziemy na spotkanie, chyba że będzie padać."),
    ("pl", "Mój numer telefonu to +48 600 100 200, dzwoń po 17.",
     "Mój numer telefonu to +48 600 100 200, dzwoń po 17."),
    ("pl", "Faktura na NIP 5260250274 zostanie wysłana jutro rano.",
     "Faktura na NIP 5260250274 zostanie wysłana jutro rano."),
    ("pl", "Ten produkt jest bardzo dobry i polecam go wszytkim znajomym.",
     "Ten produkt jest bardzo dobry i polecam go wszystkim znajomym."),
    ("pl", "Zamówienie nr 1234 dotarło uszkodzone, prosze o zwrot pieniędzy.",
     "Zamówienie nr 1234 dotarło uszkodzone, proszę o zwrot pieniędzy."),
    ("pl", "Spotkanie odbedzie się w poniedziałek o godzinie dziesiątej.",
     "Spotkanie odbędzie się w poniedziałek o godzinie dziesiątej."),
    ("pl", "Przelew na konto PL61109010140000071219812874 został zlecony.",
     "Przelew na konto PL61109010140000071219812874 został zlecony."),
    ("pl", "Dziekuję za szybką odpowiedz i pomoc w rozwiązaniu problemu.",
     "Dziękuję za szybką odpowiedź i pomoc w rozwiązaniu problemu."),
    ("en", "Their going to the libary tomorow to returne the books.",
     "They're going to the library tomorrow to return the books."),
    ("en", "The comittee have not recieved you're application yet.",
     "The committee has not received your application yet."),
    ("en", "Please contact me at anna.smith@example.com about the invoice.",
     "Please contact me at anna.smith@example.com about the invoice."),
    ("en", "Its a beautifull day and we should of gone to the park.",
     "It's a beautiful day and we should have gone to the park."),
    ("en", "The package was delivered to the wrong adress last week.",
     "The package was delivered to the wrong address last week."),
    ("en", "I would like to cancle my subscription as soon as posible.",
     "I would like to cancel my subscription as soon as possible."),
    ("en", "Call me on +44 20 7946 0958 if their is any problem.",
     "Call me on +44 20 7946 0958 if there is any problem."),
    ("en", "The meeting has been moved to next thursday afternoon.",
     "The meeting has been moved to next Thursday afternoon."),
    ("en", "We recieved you're payment and the order is being proccesed.",
     "We received your payment and the order is being processed."),
    ("en", "This is definately the best coffe I have ever tasted.",
     "This is definitely the best coffee I have ever tasted."),
]
INSTRUCTION = {
    "pl": "Popraw błędy ortograficzne i stylistyczne w poniższym tekście bez zmiany znaczenia.",
    "en": "Correct spelling and grammar mistakes in the text below without changing its meaning.",
}


def quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def task_sql(name, instruction, texts):
    print("INSERT INTO task (id_ai_model, name, description) VALUES "
          f"(1, {quote(name)}, {quote(instruction)});")
    print("SET @task = LAST_INSERT_ID();")
    for text in texts:
        print(f"INSERT INTO task_item (id_task, text_original) VALUES (@task, {quote(text)});")


what = sys.argv[1] if len(sys.argv) > 1 else "sql"
if what == "labels":
    print(json.dumps({text: label for _, text, label in TEXTS}, ensure_ascii=False))
elif what == "sql-probe":
    task_sql("real llm check: probe", INSTRUCTION["pl"], [t for _, t, _ in TEXTS[:4]])
else:
    for lang in ("pl", "en"):
        task_sql(f"real llm check: {lang}", INSTRUCTION[lang],
                 [t for l, t, _ in TEXTS if l == lang])
