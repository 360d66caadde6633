// The tasks page: ask for the tasks' statuses every few seconds and show them without a reload
// (status text, error, and which of Stop and Connect apply).
"use strict";
(function () {
  const list = document.getElementById("tasks");
  if (!list) return;
  const url = list.dataset.statusUrl;
  const every = Number(list.dataset.pollMs) || 2000;

  function show(card, task) {
    const status = card.querySelector('[data-role="status"]');
    if (status.textContent !== task.status) {
      status.textContent = task.status;
      status.className = "status status-" + task.status;
    }
    const error = card.querySelector('[data-role="error"]');
    error.textContent = task.error;
    error.hidden = !task.error;
    card.querySelector('[data-role="stop"]').hidden = task.ended;
    card.querySelector('[data-role="connect"]').hidden = !task.running;
  }

  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (answer.status === 401) return; // signed out: stop asking
      if (answer.ok) {
        const body = await answer.json();
        for (const task of body.tasks) {
          const card = document.getElementById("task-" + task.id);
          if (card) show(card, task);
        }
      }
    } catch (e) {
      // the server may be restarting: ask again later
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
})();
