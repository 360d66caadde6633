// The new task form: offer only the chosen computing resource's engines, and the cluster-only
// fields (partition, wall time, GPUs) only for a cluster. Without this script every field shows.
"use strict";
(function () {
  const computing = document.getElementById("f-computing");
  const engine = document.getElementById("f-engine");
  const cluster = document.querySelector(".cluster-only");
  if (!computing || !engine || !cluster) return;

  function update() {
    const chosen = computing.selectedOptions[0];
    const engines = chosen && chosen.dataset.engines ? chosen.dataset.engines.split(" ") : null;
    for (const option of engine.options) {
      option.hidden = Boolean(option.value) && engines !== null && !engines.includes(option.value);
    }
    if (engine.selectedOptions[0] && engine.selectedOptions[0].hidden) engine.value = "";
    const isCluster = Boolean(chosen && chosen.dataset.kind === "cluster");
    cluster.hidden = !isCluster && !cluster.querySelector('[aria-invalid="true"]');
  }
  computing.addEventListener("change", update);
  update();
})();
