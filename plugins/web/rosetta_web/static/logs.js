// The logs page: a live tail. Ask for the task's last lines every few seconds; keep the view at
// the bottom while "Follow" is ticked.
"use strict";
(function () {
  const pre = document.getElementById("logs");
  if (!pre) return;
  const url = pre.dataset.logsUrl;
  const every = Number(pre.dataset.pollMs) || 2000;
  const follow = document.getElementById("follow");
  const status = document.getElementById("log-status");

  function bottom() {
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }

  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (answer.status === 401 || answer.status === 404) return;
      if (answer.ok) {
        const body = await answer.json();
        if (pre.textContent !== body.logs) {
          pre.textContent = body.logs;
          bottom();
        }
        status.textContent = body.status;
        status.className = "status status-" + body.status;
      }
    } catch (e) {
      // the server may be restarting: ask again later
    }
    setTimeout(poll, every);
  }
  bottom();
  setTimeout(poll, every);
})();
