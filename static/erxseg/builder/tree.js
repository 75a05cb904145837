// Render a rule tree as nested, editable conditions. The tree object is the
// state, and edits change it in place and call `changed`. Structural edits
// (adding, removing, picking a property or an operator) re-render the tree.

import { h, select } from "./dom.js";
import { propertyPicker } from "./picker.js";
import { defaultValue, shapeOf, valueEditor } from "./values.js";

const OCCURRENCES = [
  ["at_least", "at least"],
  ["at_most", "at most"],
  ["exactly", "exactly"],
  ["none", "never"],
];
const WINDOW_UNITS = ["minutes", "hours", "days", "weeks", "months"];
const ATTRIBUTE_TYPES_ALL = ["text", "number", "date", "boolean", "multiple_choice"];

export function newCondition(kind, context) {
  if (kind === "group") return { type: "group", conjunction: "and", negate: false, conditions: [] };
  if (kind === "event") {
    const event = context.catalogue.events[0];
    return { type: "event", event: event ? event.name : "", occurrence: "at_least", count: 1, within: null, attributes: [] };
  }
  if (kind === "segment") {
    const choice = context.referable()[0];
    return { type: "segment", segment: choice ? choice.id : null, negate: false };
  }
  return { type: "property", property: "", operator: "", value: "" };
}

function childPath(path, index) {
  return path ? `${path}.conditions[${index}]` : `conditions[${index}]`;
}

function slots(path) {
  return [
    h("span", { className: "eb-matches", "data-matches-for": path || "rules" }),
    h("ul", { className: "errorlist eb-errors", "data-errors-for": path || "rules" }),
  ];
}

function withRemove([matches, errors], remove) {
  return [matches, remove, errors];
}

function removeButton(context, onRemove, label, key) {
  if (!context.editable) return null;
  return h(
    "button",
    { type: "button", className: "eb-remove", "aria-label": label, title: label, "data-key": key, onClick: onRemove },
    "×",
  );
}

export function renderGroup(group, path, context, onRemove) {
  const editable = context.editable;
  const key = path || "rules";
  const isRoot = !path;
  const conjunctionName = `eb-conj-${key}`;
  const conjunction = h(
    "span",
    { className: "eb-conjunction", role: "radiogroup", "aria-label": "Match" },
    ...[
      ["and", "all (AND)"],
      ["or", "any (OR)"],
    ].map(([value, label]) => {
      const radio = h("input", {
        type: "radio",
        name: conjunctionName,
        value,
        checked: (group.conjunction || "and") === value,
        disabled: !editable,
        "data-key": `${key}:conj:${value}`,
      });
      radio.addEventListener("change", () => {
        group.conjunction = value;
        context.changed(true);
      });
      return h("label", {}, radio, ` ${label}`);
    }),
  );
  const negate = h("input", { type: "checkbox", checked: group.negate, disabled: !editable, "data-key": `${key}:negate` });
  negate.addEventListener("change", () => {
    group.negate = negate.checked;
    context.changed(true);
  });
  const head = h(
    "div",
    { className: "eb-group-head" },
    h("label", { className: "eb-not" }, negate, " NOT"),
    h("span", {}, isRoot ? "Contacts that match " : "Match "),
    conjunction,
    h("span", {}, " of these conditions"),
    ...slots(path).slice(0, 1),
    isRoot ? null : removeButton(context, onRemove, "Remove this group", `${key}:remove`),
  );
  const list = h("ol", { className: "eb-conditions" });
  const conditions = group.conditions || (group.conditions = []);
  conditions.forEach((condition, index) => {
    const path_ = childPath(path, index);
    const remove = () => {
      conditions.splice(index, 1);
      context.changed(true);
    };
    const item = h("li", { className: "eb-condition", "data-path": path_ });
    if (index > 0) {
      item.append(h("span", { className: "eb-joiner" }, group.conjunction === "or" ? "or" : "and"));
    }
    item.append(renderCondition(condition, path_, context, remove));
    list.append(item);
  });
  const add = editable
    ? h(
        "div",
        { className: "eb-add" },
        ...[
          ["property", "+ Property"],
          ["event", "+ Event"],
          ["segment", "+ Segment"],
          ["group", "+ Group"],
        ]
          .filter(([kind]) => kind !== "event" || context.contentType !== "company")
          .map(([kind, label]) =>
            h(
              "button",
              {
                type: "button",
                className: `eb-add-${kind}`,
                "data-key": `${key}:add:${kind}`,
                onClick: () => {
                  conditions.push(newCondition(kind, context));
                  context.focusAfterRender = `${childPath(path, conditions.length - 1)}:first`;
                  context.changed(true);
                },
              },
              label,
            ),
          ),
      )
    : null;
  return h(
    "fieldset",
    { className: `eb-group${group.negate ? " is-negated" : ""}`, "data-path": key },
    h("legend", { className: "visually-hidden" }, isRoot ? "Rules" : "Group"),
    head,
    slots(path)[1],
    list,
    add,
  );
}

function renderCondition(condition, path, context, onRemove) {
  switch (condition.type) {
    case "group":
      return renderGroup(condition, path, context, onRemove);
    case "property":
      return renderProperty(condition, path, context, onRemove);
    case "event":
      return renderEvent(condition, path, context, onRemove);
    case "segment":
      return renderSegment(condition, path, context, onRemove);
    default:
      return h(
        "div",
        { className: "eb-row eb-raw" },
        h("code", {}, JSON.stringify(condition)),
        h("span", { className: "eb-note" }, " Edit this condition in the JSON."),
        ...withRemove(slots(path), removeButton(context, onRemove, "Remove this condition", `${path}:remove`)),
      );
  }
}

function operatorsFor(property, context) {
  if (!property) return [];
  let names = property.operators;
  if (property.name.startsWith("tracked.") && property.observed_types?.length) {
    // Free JSON accepts every operator; offer those of the observed types.
    const observed = new Set(property.observed_types);
    names = names.filter((name) => {
      const operator = context.operators.get(name);
      return operator && operator.types.some((type) => observed.has(type));
    });
  }
  return names.map((name) => context.operators.get(name)).filter(Boolean);
}

function optionsFor(property, context) {
  if (!property) return [];
  if (property.options?.length) return property.options.map(String);
  if (property.name === "tags") return context.observedTags();
  return [];
}

function renderProperty(condition, path, context, onRemove) {
  const property = context.property(condition.property);
  const operators = operatorsFor(property, context);
  const picker = propertyPicker({
    properties: context.catalogue.properties,
    value: condition.property,
    disabled: !context.editable,
    key: `${path}:first`,
    onPick: (name) => {
      const picked = context.property(name);
      condition.property = name;
      const allowed = operatorsFor(picked, context);
      const keep = allowed.find((operator) => operator.name === condition.operator);
      const operator = keep || allowed[0];
      const oldShape = shapeOf(context.operators.get(condition.operator), property?.type);
      condition.operator = operator ? operator.name : "";
      const shape = shapeOf(operator, picked?.type);
      if (!keep || shape !== oldShape) setValue(condition, defaultValue(shape));
      context.focusAfterRender = `${path}:operator`;
      context.changed(true);
    },
  });
  const operator = context.operators.get(condition.operator);
  const shape = shapeOf(operator, property?.type);
  const operatorSelect = select({
    options: operators.length ? operators.map((item) => [item.name, item.label]) : [["", "Choose a property first"]],
    value: condition.operator,
    label: "Operator",
    disabled: !context.editable || !operators.length,
    key: `${path}:operator`,
    className: "eb-operator",
    onChange: (name) => {
      condition.operator = name;
      const next = shapeOf(context.operators.get(name), property?.type);
      if (next !== shape) setValue(condition, defaultValue(next));
      context.focusAfterRender = `${path}:value`;
      context.changed(true);
    },
  });
  const value = valueEditor({
    shape,
    value: condition.value,
    options: optionsFor(property, context),
    disabled: !context.editable,
    key: `${path}:value`,
    units: context.relativeUnits,
    onChange: (next) => {
      setValue(condition, next);
      context.changed(false);
    },
  });
  return h(
    "div",
    { className: "eb-row eb-property" },
    picker,
    operatorSelect,
    value ? h("span", { className: "eb-value" }, value) : null,
    ...withRemove(slots(path), removeButton(context, onRemove, "Remove this condition", `${path}:remove`)),
  );
}

function setValue(target, value) {
  if (value === undefined) delete target.value;
  else target.value = value;
}

function renderEvent(condition, path, context, onRemove) {
  const editable = context.editable;
  const events = context.catalogue.events;
  const names = events.map((event) => [event.name, `${event.name} (${event.count.toLocaleString()})`]);
  if (condition.event && !events.some((event) => event.name === condition.event)) {
    names.unshift([condition.event, condition.event]);
  }
  const eventSelect = select({
    options: names.length ? names : [["", "No events tracked yet"]],
    value: condition.event,
    label: "Event",
    disabled: !editable,
    key: `${path}:first`,
    className: "eb-event-name",
    onChange: (name) => {
      condition.event = name;
      context.changed(true);
    },
  });
  const occurrence = select({
    options: OCCURRENCES,
    value: condition.occurrence || "at_least",
    label: "How often",
    disabled: !editable,
    key: `${path}:occurrence`,
    className: "eb-occurrence",
    onChange: (value) => {
      condition.occurrence = value;
      if (value === "none") delete condition.count;
      else if (condition.count == null) condition.count = 1;
      context.changed(true);
    },
  });
  const count =
    condition.occurrence === "none"
      ? null
      : h("input", {
          type: "number",
          min: "0",
          step: "1",
          value: condition.count ?? 1,
          disabled: !editable,
          "aria-label": "Number of times",
          "data-key": `${path}:count`,
          className: "eb-number eb-count-input",
        });
  count?.addEventListener("input", () => {
    condition.count = count.value === "" ? null : Number(count.value);
    context.changed(false);
  });
  const within = condition.within || null;
  let windowKind = "any";
  if (within) windowKind = "last" in within ? "last" : "between";
  const windowSelect = select({
    options: [
      ["any", "at any time"],
      ["last", "in the last"],
      ["between", "between"],
    ],
    value: windowKind,
    label: "When",
    disabled: !editable,
    key: `${path}:window`,
    className: "eb-window",
    onChange: (value) => {
      if (value === "any") condition.within = null;
      else if (value === "last") condition.within = { last: 30, unit: "days" };
      else condition.within = { between: ["", ""] };
      context.changed(true);
    },
  });
  let windowValue = null;
  if (windowKind === "last") {
    windowValue = valueEditor({
      shape: "relative",
      value: { amount: within.last, unit: within.unit },
      disabled: !editable,
      key: `${path}:within`,
      units: WINDOW_UNITS,
      label: "Window",
      onChange: (next) => {
        condition.within = { last: next.amount, unit: next.unit };
        context.changed(false);
      },
    });
  } else if (windowKind === "between") {
    windowValue = valueEditor({
      shape: "date_range",
      value: within.between,
      disabled: !editable,
      key: `${path}:within`,
      label: "Window",
      onChange: (next) => {
        condition.within = { between: next };
        context.changed(false);
      },
    });
  }
  const event = events.find((item) => item.name === condition.event);
  const attributes = condition.attributes || (condition.attributes = []);
  const filterList = h("ol", { className: "eb-attributes" });
  attributes.forEach((filter, index) => {
    filterList.append(renderAttribute(filter, `${path}.attributes[${index}]`, event, context, () => {
      attributes.splice(index, 1);
      context.changed(true);
    }));
  });
  const addFilter = editable
    ? h(
        "button",
        {
          type: "button",
          className: "eb-add-attribute",
          "data-key": `${path}:add-attribute`,
          onClick: () => {
            const first = event?.attributes[0];
            attributes.push({ attribute: first ? first.key : "", operator: "", value: "" });
            const added = attributes[attributes.length - 1];
            const operator = attributeOperators(first, context)[0];
            added.operator = operator ? operator.name : "";
            setValue(added, defaultValue(shapeOf(operator, first?.types[0])));
            context.focusAfterRender = `${path}.attributes[${attributes.length - 1}]:first`;
            context.changed(true);
          },
        },
        "+ Attribute filter",
      )
    : null;
  return h(
    "div",
    { className: "eb-event" },
    h(
      "div",
      { className: "eb-row" },
      h("span", { className: "eb-label" }, "Did"),
      eventSelect,
      occurrence,
      count,
      count ? h("span", {}, " times") : null,
      windowSelect,
      windowValue,
      ...withRemove(slots(path), removeButton(context, onRemove, "Remove this condition", `${path}:remove`)),
    ),
    attributes.length ? h("div", { className: "eb-label eb-where" }, "where") : null,
    filterList,
    addFilter,
  );
}

function attributeOperators(attribute, context) {
  const types = new Set(attribute?.types?.length ? attribute.types : ATTRIBUTE_TYPES_ALL);
  return [...context.operators.values()].filter((operator) => operator.types.some((type) => types.has(type)));
}

function renderAttribute(filter, path, event, context, onRemove) {
  const editable = context.editable;
  const known = event ? event.attributes : [];
  const keys = known.map((item) => [item.key, `${item.key} (${item.types.join(", ")})`]);
  if (filter.attribute && !known.some((item) => item.key === filter.attribute)) {
    keys.unshift([filter.attribute, filter.attribute]);
  }
  const attribute = known.find((item) => item.key === filter.attribute);
  const operators = attributeOperators(attribute, context);
  const operator = context.operators.get(filter.operator);
  const shape = shapeOf(operator, attribute?.types[0]);
  const keySelect = select({
    options: keys.length ? keys : [["", "No attributes seen"]],
    value: filter.attribute,
    label: "Attribute",
    disabled: !editable,
    key: `${path}:first`,
    className: "eb-attribute-key",
    onChange: (name) => {
      filter.attribute = name;
      const next = known.find((item) => item.key === name);
      const allowed = attributeOperators(next, context);
      if (!allowed.some((item) => item.name === filter.operator)) {
        filter.operator = allowed[0]?.name || "";
        setValue(filter, defaultValue(shapeOf(allowed[0], next?.types[0])));
      }
      context.changed(true);
    },
  });
  const operatorSelect = select({
    options: operators.map((item) => [item.name, item.label]),
    value: filter.operator,
    label: "Attribute operator",
    disabled: !editable,
    key: `${path}:operator`,
    className: "eb-operator",
    onChange: (name) => {
      filter.operator = name;
      const next = shapeOf(context.operators.get(name), attribute?.types[0]);
      if (next !== shape) setValue(filter, defaultValue(next));
      context.focusAfterRender = `${path}:value`;
      context.changed(true);
    },
  });
  const value = valueEditor({
    shape,
    value: filter.value,
    disabled: !editable,
    key: `${path}:value`,
    units: context.relativeUnits,
    label: "Attribute value",
    onChange: (next) => {
      setValue(filter, next);
      context.changed(false);
    },
  });
  return h(
    "li",
    { className: "eb-row eb-attribute", "data-path": path },
    keySelect,
    operatorSelect,
    value,
    h("ul", { className: "errorlist eb-errors", "data-errors-for": path }),
    removeButton(context, onRemove, "Remove this attribute filter", `${path}:remove`),
  );
}

function renderSegment(condition, path, context, onRemove) {
  const choices = context.referable().map((segment) => [String(segment.id), segment.name]);
  if (condition.segment && !choices.some(([id]) => id === String(condition.segment))) {
    choices.unshift([String(condition.segment), `Segment ${condition.segment}`]);
  }
  const membership = select({
    options: [
      ["in", "is in segment"],
      ["not_in", "is not in segment"],
    ],
    value: condition.negate ? "not_in" : "in",
    label: "Membership",
    disabled: !context.editable,
    key: `${path}:first`,
    onChange: (value) => {
      condition.negate = value === "not_in";
      context.changed(true);
    },
  });
  const segmentSelect = select({
    options: choices.length ? choices : [["", "No other segment of this type"]],
    value: condition.segment == null ? "" : String(condition.segment),
    label: "Segment",
    disabled: !context.editable,
    key: `${path}:segment`,
    className: "eb-segment-ref",
    onChange: (value) => {
      condition.segment = value ? Number(value) : null;
      context.changed(true);
    },
  });
  return h(
    "div",
    { className: "eb-row eb-segment" },
    membership,
    segmentSelect,
    ...withRemove(slots(path), removeButton(context, onRemove, "Remove this condition", `${path}:remove`)),
  );
}
