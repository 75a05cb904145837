// A property picker: a combobox with type-ahead over the catalogue, grouped
// by where a property comes from. Arrow keys move, Enter picks, Escape
// closes; the pattern follows the WAI-ARIA combobox with a listbox popup.

import { h } from "./dom.js";

const GROUPS = [
  ["standard", "Standard fields"],
  ["custom", "Custom fields"],
  ["tracked", "Tracked data"],
  ["company", "Company"],
];

export function groupOf(name) {
  const prefix = name.split(".")[0];
  if (name.includes(".") && ["custom", "tracked", "company"].includes(prefix)) return prefix;
  return "standard";
}

let pickerCount = 0;

export function propertyPicker({ properties, value, disabled, onPick, key }) {
  pickerCount += 1;
  const listId = `eb-picker-list-${pickerCount}`;
  const current = properties.find((property) => property.name === value);
  const input = h("input", {
    type: "text",
    className: "eb-picker-input",
    role: "combobox",
    "aria-expanded": "false",
    "aria-controls": listId,
    "aria-autocomplete": "list",
    "aria-label": "Property",
    placeholder: "Type to find a property…",
    value: current ? current.label : value || "",
    disabled,
    "data-key": key,
  });
  const list = h("ul", { id: listId, role: "listbox", className: "eb-picker-list", hidden: true });
  let options = [];
  let active = -1;

  function render(filter) {
    const needle = filter.trim().toLowerCase();
    list.replaceChildren();
    options = [];
    for (const [group, title] of GROUPS) {
      const matches = properties.filter(
        (property) =>
          groupOf(property.name) === group &&
          (!needle ||
            property.label.toLowerCase().includes(needle) ||
            property.name.toLowerCase().includes(needle)),
      );
      if (!matches.length) continue;
      list.append(h("li", { role: "presentation", className: "eb-picker-group" }, title));
      for (const property of matches) {
        const option = h(
          "li",
          {
            role: "option",
            id: `${listId}-${options.length}`,
            className: "eb-picker-option",
            "data-name": property.name,
            "aria-selected": "false",
          },
          h("span", {}, property.label),
          h("small", {}, ` ${property.name} · ${property.type.replace("_", " ")}`),
        );
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          pick(property);
        });
        options.push({ element: option, property });
        list.append(option);
      }
    }
    if (!options.length) list.append(h("li", { className: "eb-picker-empty" }, "No property matches."));
    setActive(options.length ? 0 : -1);
  }

  function setActive(index) {
    options.forEach((option, position) =>
      option.element.setAttribute("aria-selected", String(position === index)),
    );
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].element.id);
      options[index].element.scrollIntoView?.({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function open(filter = "") {
    render(filter);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function pick(property) {
    input.value = property.label;
    close();
    onPick(property.name);
  }

  input.addEventListener("focus", () => {
    input.select();
    open("");
  });
  input.addEventListener("input", () => open(input.value));
  input.addEventListener("blur", () => {
    close();
    const chosen = properties.find((property) => property.name === value);
    input.value = chosen ? chosen.label : value || "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden) open(input.value);
      const step = event.key === "ArrowDown" ? 1 : -1;
      if (options.length) setActive((active + step + options.length) % options.length);
    } else if (event.key === "Enter") {
      // Enter must never submit the whole segment form from the picker.
      event.preventDefault();
      if (!list.hidden && active >= 0) pick(options[active].property);
    } else if (event.key === "Escape") {
      if (!list.hidden) {
        event.preventDefault();
        close();
      }
    }
  });
  return h("div", { className: "eb-picker" }, input, list);
}
