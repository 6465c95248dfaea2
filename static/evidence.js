// Opens image evidence in place: the same recorded POST (with its reason) as the form sends
// without script, its answer shown blurred and greyscale until the reviewer reveals it.
"use strict";

// The page's CSP lets images come from this origin or data: URLs, not blob: URLs.
function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function showExposure(response) {
  const count = response.headers.get("Docket-Exposure");
  if (count === null) return;
  for (const element of document.querySelectorAll("[data-exposure-count]")) {
    element.textContent = count;
  }
  const prompt = document.querySelector("[data-break-prompt]");
  if (prompt && response.headers.get("Docket-Break-Due") === "1") prompt.hidden = false;
}

async function openInPlace(form) {
  const item = form.closest("[data-evidence-item]");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const body = new FormData(form);
  body.set("deliver", "bytes");
  let response = null;
  try {
    response = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
  } catch {
    // Sent without script below, the server's own page says what went wrong.
  }
  if (!response || !response.ok) {
    form.submit();
    return;
  }
  item.querySelector("[data-evidence-image]").src = await dataUrl(await response.blob());
  item.querySelector("[data-evidence-media]").hidden = false;
  item.querySelector("[data-evidence-shield]").hidden = true;
  form.hidden = true;
  showExposure(response);
  item.querySelector(".reveal").focus();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-evidence-open]")) return;
  event.preventDefault();
  openInPlace(form);
});
