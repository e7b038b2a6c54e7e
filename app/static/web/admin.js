// Administration: a township is asked for only when the role is township officer, and a
// spreadsheet too large for the server is refused here, before it is sent.

for (const select of document.querySelectorAll("[data-role-select]")) {
  const form = select.form;
  const parts = form.querySelectorAll("[data-township-field]");
  const township = form.querySelector("select[name=township_id]");
  const follow = () => {
    const needed = select.value === "township";
    for (const part of parts) part.hidden = !needed;
    if (township) township.disabled = !needed;
    // the division code: staff only (a township officer's follows their township)
    for (const part of form.querySelectorAll("[data-staff-field]")) part.hidden = needed;
    const division = form.querySelector("input[name=division_code]");
    if (division) division.disabled = needed;
  };
  select.addEventListener("change", follow);
  follow();
}

for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
  const limit = Number(input.dataset.maxBytes);
  const message = document.getElementById("e-file");
  const tooLarge = () => limit > 0 && input.files.length > 0 && input.files[0].size > limit;
  input.addEventListener("change", () => {
    if (tooLarge()) {
      message.textContent = input.dataset.tooLarge;
      message.hidden = false;
      input.setAttribute("aria-invalid", "true");
    } else if (message.textContent === input.dataset.tooLarge) {
      message.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  });
  input.form.addEventListener("submit", (event) => {
    if (tooLarge()) {
      event.preventDefault();
      message.textContent = input.dataset.tooLarge;
      message.hidden = false;
      input.focus();
    }
  });
}
