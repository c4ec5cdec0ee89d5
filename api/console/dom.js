// DOM helpers. Every value from the API reaches the page as a text node or an
// attribute value set through the DOM: nothing here parses HTML.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'indeterminate', 'open', 'required', 'readOnly']);

// h builds an element: h('button', {class: 'primary', onclick: fn}, 'Save').
// Children are nodes, strings (text), numbers, arrays of those, or
// null/undefined/false (skipped).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new Error('dom: ' + k + ' must be a function');
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (PROPS.has(k)) {
      el[k] = v;
    } else if (k === 'style' || k === 'srcdoc' || k === 'innerHTML') {
      throw new Error('dom: ' + k + ' is not allowed');
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

// append adds children (as h takes them) to el.
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// fill replaces el's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;

// uid returns an id unique in the page, for label/aria references.
export function uid(prefix) {
  counter += 1;
  return (prefix || 'id') + '-' + counter;
}

// field is a label and a control (with an optional hint), wired together.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const parts = [h('label', {for: id}, label), control];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', {class: 'hint', id: hid}, hint));
  }
  return h('div', {class: 'field'}, parts);
}

// checkbox is a labelled checkbox.
export function checkbox(label, attrs, hint) {
  const id = (attrs && attrs.id) || uid('c');
  const input = h('input', Object.assign({type: 'checkbox'}, attrs, {id}));
  const text = h('div', null, h('label', {for: id}, label));
  if (hint) {
    const hid = uid('hint');
    input.setAttribute('aria-describedby', hid);
    text.append(h('span', {class: 'hint', id: hid}, hint));
  }
  return {input, el: h('div', {class: 'check'}, input, text)};
}
