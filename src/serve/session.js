// Shared by the pages of serve. The token is kept for this browser session only
// (sessionStorage), never in the URL the server sees; "#token=..." in the address is
// read once and removed.
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { sessionStorage.setItem("aiw-token", fromHash); history.replaceState(null, "", location.pathname + location.search); }
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const num = n => (n ?? 0).toLocaleString("en-US");
function askToken(reason) {
  document.getElementById("login").className = "card shown";
  document.getElementById("login-reason").textContent = reason;
  document.getElementById("updated").textContent = "401: a token is needed";
}
// Calls `reload` once a token has been typed in.
function onLogin(reload) {
  document.getElementById("login-form").addEventListener("submit", e => {
    e.preventDefault();
    sessionStorage.setItem("aiw-token", document.getElementById("token").value);
    document.getElementById("login").className = "card";
    reload();
  });
}
// The JSON at `path`, read with the token; null when it could not be read (the page
// then says why).
async function readJson(path) {
  const token = sessionStorage.getItem("aiw-token");
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  let answer;
  try { answer = await fetch(path, {headers, cache: "no-store"}); }
  catch (e) { document.getElementById("updated").textContent = "cannot reach ai-worker serve"; return null; }
  if (answer.status === 401) { askToken(token ? "That token is wrong." : "This server needs its token (SERVE_TOKEN)."); return null; }
  const data = await answer.json();
  if (!answer.ok) { document.getElementById("updated").textContent = "error: " + (data.error || answer.status); return null; }
  return data;
}
