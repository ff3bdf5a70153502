// The saved ipywidgets are drawn by @jupyter-widgets/html-manager 1.0.6, which typesets their
// labels with MathJax 2's `MathJax.Hub.Queue`; the site runs MathJax 3, which has no Hub, so each
// widget would throw. Give every `window.MathJax` (the configuration Sphinx writes, then MathJax 3
// itself, which replaces it) a Hub whose Queue typesets the element with MathJax 3 once it runs.
(() => {
  const hub = {
    Queue: ([, , element]) => {
      const mathjax = window.MathJax;
      const started = mathjax.startup ? mathjax.startup.promise : Promise.resolve();
      started.then(() => mathjax.typesetPromise && mathjax.typesetPromise([element]));
    },
  };
  let current = window.MathJax;
  if (current && !current.Hub) current.Hub = hub;
  Object.defineProperty(window, 'MathJax', {
    configurable: true,
    get: () => current,
    set: (value) => {
      current = value;
      if (value && !value.Hub) value.Hub = hub;
    },
  });
})();
