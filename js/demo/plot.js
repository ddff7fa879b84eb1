// A live line plot of a stream's numeric items on a <canvas>. It keeps the last MAX_POINTS
// values (a long stream must not grow the page without bound) and redraws at most once a
// frame, however fast items come. `data-points` on the canvas counts the items it was
// given, `data-drawn` those the last drawing showed, for a test to wait on.

/** The values a plot keeps, newest last. */
export const MAX_POINTS = 2000;

/** A plot on `canvas`. */
export class Plot {
  constructor(canvas) {
    this.canvas = canvas;
    this.values = [];
    this.total = 0;
    this.frame = null;
    this.reset();
  }

  /** Forgets every value and clears the canvas. */
  reset() {
    this.values = [];
    this.total = 0;
    this.canvas.dataset.points = "0";
    this.canvas.dataset.drawn = "0";
    this.#schedule();
  }

  /** Takes the next item: a number is plotted; anything else only counted. */
  add(item) {
    this.total += 1;
    this.canvas.dataset.points = String(this.total);
    if (typeof item === "number" && Number.isFinite(item)) {
      this.values.push(item);
      if (this.values.length > MAX_POINTS) this.values.splice(0, this.values.length - MAX_POINTS);
    }
    this.#schedule();
  }

  #schedule() {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.#draw();
    });
  }

  #draw() {
    const { canvas, values } = this;
    const g = canvas.getContext("2d");
    const w = canvas.width;
    const h = canvas.height;
    g.clearRect(0, 0, w, h);
    if (values.length > 0) {
      let lo = Math.min(...values);
      let hi = Math.max(...values);
      if (hi === lo) { lo -= 1; hi += 1; }
      const pad = 8;
      const x = (i) => pad + (values.length === 1 ? 0 : (i * (w - 2 * pad)) / (values.length - 1));
      const y = (v) => h - pad - ((v - lo) * (h - 2 * pad)) / (hi - lo);
      g.strokeStyle = "#1f5fbf";
      g.lineWidth = 1.5;
      g.beginPath();
      values.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
      g.stroke();
      g.fillStyle = "#555";
      g.font = "11px sans-serif";
      g.fillText(String(hi), 2, 10);
      g.fillText(String(lo), 2, h - 2);
    }
    canvas.dataset.drawn = String(this.total);
  }
}
