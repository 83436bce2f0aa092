// The import job page: follow the job live (its JSON status, once a second) and, once it has
// ended, reload so the server draws the findings. The page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("job");
  if (!panel || panel.dataset.ended === "yes") return;
  const bar = document.getElementById("job-progress");
  const label = document.getElementById("job-percent");
  const set = (id, text) => {
    const element = document.getElementById(id);
    if (element) element.textContent = String(text);
  };
  let failures = 0;
  const poll = async () => {
    try {
      const reply = await fetch(panel.dataset.statusUrl, {credentials: "same-origin",
                                                         headers: {Accept: "application/json"}});
      if (!reply.ok) throw new Error(`status ${reply.status}`);
      const job = await reply.json();
      failures = 0;
      set("job-state", job.state);
      set("job-phase", job.phase);
      document.getElementById("job-state").className = `badge job-${job.state}`;
      if (job.percent === null) {
        bar.removeAttribute("value");
        label.textContent = "reading the file…";
      } else {
        bar.value = job.percent;
        label.textContent = `${job.percent}%`;
      }
      for (const [name, value] of Object.entries(job.progress)) set(`n-${name}`, value);
      if (job.ended) {
        window.location.reload();
        return;
      }
    } catch (error) {
      failures += 1;
      set("job-live", `Could not read the job's status (${error.message}); retrying.`);
    }
    window.setTimeout(poll, failures ? Math.min(10000, 1000 * 2 ** failures) : 1000);
  };
  window.setTimeout(poll, 500);
});
