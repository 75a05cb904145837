// The segment rule builder on the admin's segment form. The hidden `rules`
// textarea stays the form's source of truth: every change writes the tree
// into it as JSON, so saving goes through the normal admin form and the
// model's validation.

import { ApiError, requestJson } from "./api.js";
import { h } from "./dom.js";
import { renderGroup } from "./tree.js";

const PREVIEW_DELAY_MS = 400;
const config = JSON.parse(document.getElementById("segment-builder-config").textContent);

function emptyGroup() {
  return { type: "group", conjunction: "and", negate: false, conditions: [] };
}

function formatNumber(value) {
  return Number(value).toLocaleString("en");
}

class Builder {
  constructor() {
    this.row = document.querySelector(".form-row.field-rules");
    this.textarea = document.getElementById("id_rules");
    this.contentTypeInput = document.getElementById("id_content_type");
    this.parentInput = document.getElementById("id_parent");
    this.editable = config.editable && Boolean(this.textarea);
    this.rules = this.readRules() || emptyGroup();
    this.catalogues = new Map();
    this.catalogue = { properties: [], events: [] };
    this.previewTimer = null;
    this.previewSequence = 0;
    this.focusAfterRender = null;
    this.operators = new Map(config.operators.map((operator) => [operator.name, operator]));
    this.build();
  }

  get contentType() {
    return this.contentTypeInput?.value || config.contentType;
  }

  get parent() {
    const value = this.parentInput?.value;
    return value ? Number(value) : null;
  }

  readRules() {
    if (!this.textarea) return config.rules;
    try {
      const parsed = JSON.parse(this.textarea.value || "null");
      return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : null;
    } catch {
      return null;
    }
  }

  build() {
    this.root = h("div", { className: "eb-builder", "data-editable": String(this.editable) });
    this.treeHost = h("div", { className: "eb-tree" });
    this.countValue = h("span", { className: "eb-count-value", "aria-live": "polite" });
    this.countStatus = h("span", { className: "eb-count-status eb-note" });
    const countButton = h("button", { type: "button", className: "button eb-show-count", onClick: () => this.preview() }, "Show count");
    const explainButton = h("button", { type: "button", className: "button eb-explain-button", onClick: () => this.explain() }, "Explain");
    this.explainPanel = h("section", { className: "eb-explain", hidden: true, "aria-live": "polite" });
    const bar = h(
      "div",
      { className: "eb-count" },
      this.countValue,
      this.countStatus,
      this.editable ? countButton : null,
      explainButton,
    );
    this.root.append(this.treeHost, bar, this.explainPanel);
    if (this.editable) {
      this.jsonToggle = h(
        "button",
        { type: "button", className: "button eb-json-toggle", "aria-expanded": "false", onClick: () => this.toggleJson() },
        "Edit as JSON",
      );
      this.jsonError = h("ul", { className: "errorlist eb-json-error", hidden: true });
      this.root.append(h("div", { className: "eb-json" }, this.jsonToggle, this.jsonError));
      this.textarea.classList.add("eb-json-text");
      this.textarea.hidden = true;
      this.textarea.addEventListener("input", () => this.readJson());
    }
    const host = this.row?.querySelector(".flex-container") || this.row;
    if (host) {
      const anchor = this.textarea || host.querySelector(".readonly");
      if (anchor && !this.textarea) anchor.hidden = true;
      host.insertBefore(this.root, anchor || host.firstChild);
    } else {
      document.querySelector("#content-main form")?.prepend(this.root);
    }
    this.contentTypeInput?.addEventListener("change", () => this.loadCatalogue());
    this.watchParent();
    this.showServerErrors();
    this.loadCatalogue();
    this.showSavedCount();
  }

  watchParent() {
    if (!this.parentInput) return;
    this.parentInput.addEventListener("change", () => this.schedulePreview());
    // The autocomplete widget (select2) reports changes through jQuery only.
    const jQuery = window.django?.jQuery;
    if (jQuery) jQuery(this.parentInput).on("change", () => this.schedulePreview());
  }

  async loadCatalogue() {
    const contentType = this.contentType;
    if (!this.catalogues.has(contentType)) {
      try {
        const url = `${config.urls.catalogue}?content_type=${encodeURIComponent(contentType)}`;
        this.catalogues.set(contentType, await requestJson(url));
      } catch (error) {
        this.countStatus.textContent = `The property list could not be loaded: ${error.message}`;
        this.catalogues.set(contentType, { properties: [], events: [] });
      }
    }
    this.catalogue = this.catalogues.get(contentType);
    this.render();
    if (this.editable) this.preview();
  }

  context() {
    const builder = this;
    return {
      editable: this.editable,
      contentType: this.contentType,
      catalogue: this.catalogue,
      operators: this.operators,
      relativeUnits: config.relativeUnits,
      set focusAfterRender(value) {
        builder.focusAfterRender = value;
      },
      property: (name) => this.catalogue.properties.find((property) => property.name === name),
      observedTags: () => config.observedTags[this.contentType === "company" ? "company" : "customer"] || [],
      referable: () => {
        const companies = this.contentType === "company";
        return config.segments.filter(
          (segment) => segment.id !== config.segment && (segment.content_type === "company") === companies,
        );
      },
      changed: (structural) => this.changed(structural),
    };
  }

  render() {
    const active = document.activeElement?.dataset?.key;
    this.treeHost.replaceChildren(renderGroup(this.rules, "", this.context(), null));
    const focusKey = this.focusAfterRender || active;
    this.focusAfterRender = null;
    if (focusKey) this.treeHost.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
  }

  changed(structural) {
    if (structural) this.render();
    this.writeJson();
    this.clearExplain();
    this.schedulePreview();
  }

  writeJson() {
    if (!this.textarea) return;
    this.textarea.value = JSON.stringify(this.rules, null, 2);
    this.jsonError.hidden = true;
  }

  toggleJson() {
    const open = this.textarea.hidden;
    this.textarea.hidden = !open;
    this.jsonToggle.setAttribute("aria-expanded", String(open));
    this.jsonToggle.textContent = open ? "Hide JSON" : "Edit as JSON";
    if (open) this.textarea.focus();
  }

  readJson() {
    let parsed;
    try {
      parsed = JSON.parse(this.textarea.value);
    } catch (error) {
      this.showJsonError(`The JSON is invalid: ${error.message}. Fix it, or use the builder.`);
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || (parsed.type || "group") !== "group") {
      this.showJsonError('The rules must be one group: {"type": "group", "conjunction": "and", "conditions": []}.');
      return;
    }
    this.jsonError.hidden = true;
    this.rules = parsed;
    this.render();
    this.schedulePreview();
  }

  showJsonError(message) {
    this.jsonError.replaceChildren(h("li", {}, message));
    this.jsonError.hidden = false;
  }

  schedulePreview() {
    if (!this.editable) return;
    clearTimeout(this.previewTimer);
    this.countStatus.textContent = "Counting…";
    this.previewTimer = setTimeout(() => this.preview(), PREVIEW_DELAY_MS);
  }

  payload() {
    return { content_type: this.contentType, rules: this.rules, parent: this.parent, sample_size: 0 };
  }

  async preview() {
    if (!this.editable) return;
    clearTimeout(this.previewTimer);
    const sequence = ++this.previewSequence;
    this.countStatus.textContent = "Counting…";
    try {
      const result = await requestJson(config.urls.preview, { method: "POST", body: this.payload() });
      if (sequence !== this.previewSequence) return;
      this.showErrors({});
      this.showCount(result.count, result.total);
      this.countStatus.textContent = "";
    } catch (error) {
      if (sequence !== this.previewSequence) return;
      this.countValue.textContent = "";
      this.root.dataset.count = "";
      this.showRequestError(error);
    }
  }

  showCount(count, total) {
    const kind = (config.contentTypes[this.contentType] || "contacts").toLowerCase();
    const share = total ? ((count / total) * 100).toFixed(1) : "0.0";
    this.countValue.replaceChildren(
      h("strong", { className: "eb-count-number" }, formatNumber(count)),
      ` of ${formatNumber(total)} ${kind} (${share}%)`,
    );
    this.root.dataset.count = String(count);
  }

  showSavedCount() {
    if (this.editable || config.memberCount == null) return;
    const counted = config.countedAt ? new Date(config.countedAt).toLocaleString() : "";
    this.countValue.replaceChildren(
      h("strong", { className: "eb-count-number" }, formatNumber(config.memberCount)),
      ` members, counted ${counted}`,
    );
  }

  showRequestError(error) {
    if (error instanceof ApiError && error.status === 400) {
      const fields = error.fields;
      this.showErrors(fields.rules || {});
      const other = Object.entries(fields)
        .filter(([name]) => name !== "rules")
        .map(([name, messages]) => `${name}: ${[].concat(messages).join(" ")}`);
      this.countStatus.textContent = other.length ? other.join(" ") : "Fix the conditions marked in red to see the count.";
    } else if (error instanceof ApiError && error.status === 403) {
      this.countStatus.textContent = "You do not have permission to preview segments.";
    } else {
      this.countStatus.textContent = `The count failed: ${error.message}`;
    }
  }

  showErrors(errors) {
    for (const list of this.root.querySelectorAll("[data-errors-for]")) list.replaceChildren();
    for (const [path, messages] of Object.entries(errors)) {
      const target = this.errorTarget(path);
      for (const message of [].concat(messages)) {
        const prefix = target.dataset.errorsFor === path ? "" : `${path.slice(target.dataset.errorsFor.length).replace(/^\./, "")}: `;
        target.append(h("li", {}, prefix + message));
      }
    }
  }

  errorTarget(path) {
    // An error goes to the deepest rendered condition whose path is a prefix
    // of the error's path, such as conditions[1] for conditions[1].value.
    let best = this.root.querySelector('[data-errors-for="rules"]');
    let bestLength = -1;
    for (const list of this.root.querySelectorAll("[data-errors-for]")) {
      const own = list.dataset.errorsFor;
      if (own === "rules") continue;
      const fits = path === own || path.startsWith(`${own}.`);
      if (fits && own.length > bestLength) {
        best = list;
        bestLength = own.length;
      }
    }
    return best;
  }

  showServerErrors() {
    // After a rejected save the form lists "path: message" lines for rules.
    const errors = {};
    for (const item of this.row?.querySelectorAll(".errorlist li") || []) {
      const match = /^((?:conditions\[\d+\][.\w\[\]]*)): (.*)$/.exec(item.textContent);
      if (match) (errors[match[1]] ||= []).push(match[2]);
    }
    if (Object.keys(errors).length) queueMicrotask(() => this.showErrors(errors));
  }

  clearExplain() {
    for (const slot of this.root.querySelectorAll("[data-matches-for]")) slot.textContent = "";
    this.explainPanel.hidden = true;
  }

  async explain() {
    this.explainPanel.hidden = false;
    this.explainPanel.replaceChildren(h("p", { className: "eb-note" }, "Explaining…"));
    try {
      const result = this.editable
        ? await requestJson(config.urls.explainPreview, { method: "POST", body: this.payload() })
        : await requestJson(config.urls.explain);
      this.showExplain(result);
    } catch (error) {
      this.explainPanel.replaceChildren();
      this.showRequestError(error);
      this.explainPanel.hidden = true;
    }
  }

  showExplain(result) {
    const kind = (config.contentTypes[this.contentType] || "contacts").toLowerCase();
    const lines = [
      h("h3", {}, "Explain"),
      h("p", {}, `${formatNumber(result.count)} of ${formatNumber(result.total)} ${kind} match the rules.`),
    ];
    if (result.parent_members != null) {
      lines.push(h("p", {}, `The parent segment has ${formatNumber(result.parent_members)} members; each count below is within them.`));
    }
    if (result.tree) {
      lines.push(h("p", { className: "eb-note" }, "Each condition and group shows how many contacts it matches on its own."));
      this.markMatches(result.tree);
    }
    if (result.sql) {
      lines.push(h("details", {}, h("summary", {}, "SQL"), h("pre", { className: "eb-sql" }, result.sql)));
    }
    this.explainPanel.replaceChildren(...lines);
  }

  markMatches(node) {
    const slot = this.root.querySelector(`[data-matches-for="${CSS.escape(node.path)}"]`);
    if (slot) slot.textContent = `${formatNumber(node.matches)} match`;
    for (const child of node.conditions || []) this.markMatches(child);
  }
}

new Builder();
