// The console without this file works the same: these are conveniences on top.
// - a form with data-confirm asks before it is sent (the server asks again where it
//   matters: "Replace now" and "revoke everything" need their box ticked);
// - a button with data-copy copies the text of the element it names (a new secret).
"use strict";
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : "";
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  });
}
