// The annual report page: the print button (the page's print styles do the rest).
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
