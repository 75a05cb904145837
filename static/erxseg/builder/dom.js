// A small element factory. Text always goes in as text nodes, never as
// HTML, so names and values that contain markup are shown as written.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") element.className = value;
    else if (name === "value") element.value = value;
    else if (name === "checked") element.checked = Boolean(value);
    else if (name === "hidden") element.hidden = Boolean(value);
    else if (name === "disabled") element.disabled = Boolean(value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function select({ options, value, label, disabled, key, onChange, className }) {
  const element = h("select", { "aria-label": label, disabled, "data-key": key, className });
  for (const [optionValue, optionLabel] of options) {
    element.append(h("option", { value: optionValue }, optionLabel));
  }
  element.value = value ?? "";
  if (onChange) element.addEventListener("change", () => onChange(element.value));
  return element;
}
