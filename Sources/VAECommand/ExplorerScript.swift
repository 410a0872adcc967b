/// The report page's explorer: the run's encoder and decoder in plain JavaScript over the
/// weights embedded in the page (Keras layouts, float32), computing in double precision, so a
/// decode equals `vae`'s to well within 1e-5. `window.explorer` exposes the last decodes for
/// tests and for the curious.
enum ExplorerScript {
    static let source = #"""
    (() => {
    "use strict";
    const data = JSON.parse(document.getElementById("explorer-data").textContent);
    const floats = (text) => {
      const binary = atob(text), bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      return new Float32Array(bytes.buffer);
    };
    const weights = floats(data.weights);
    const tensor = (name) => {
      const [offset, shape] = data.layout[name];
      return weights.subarray(offset, offset + shape.reduce((a, b) => a * b, 1));
    };
    const t = {};
    for (const name of Object.keys(data.layout)) t[name] = tensor(name);
    const L = data.latent;
    // The layers' widths and the sides, from the tensors' shapes (Keras layouts: Conv2D [k, k,
    // in, out], Conv2DTranspose [k, k, out, in], Dense [in, out]); every convolution is k x k,
    // the encoder's two halve the side and the decoder's first two double it.
    const shape = (name) => data.layout[name][1];
    const [K, , , C1] = shape("encoder.conv1.kernel"), C2 = shape("encoder.conv2.kernel")[3];
    const [FLAT, HIDDEN] = shape("encoder.dense.kernel"), DENSE = shape("decoder.dense.kernel")[1];
    // D0 channels on the dense layer's S0 x S0 grid, D1 after the first transposed convolution, D2 after the second.
    const [, , D1, D0] = shape("decoder.deconv1.kernel"), [, , D2] = shape("decoder.deconv2.kernel");
    const IN = 4 * Math.round(Math.sqrt(FLAT / C2)), S0 = Math.round(Math.sqrt(DENSE / D0));
    const S1 = 2 * S0, OUT = 2 * S1, PIXELS = OUT * OUT, TAPS = K * K;

    // Dense: kernel [in, out].
    function dense(x, inputs, outputs, kernel, bias, relu) {
      const y = new Float64Array(outputs);
      for (let o = 0; o < outputs; o++) y[o] = bias[o];
      for (let i = 0; i < inputs; i++) {
        const xi = x[i], row = i * outputs;
        if (xi === 0) continue;
        for (let o = 0; o < outputs; o++) y[o] += xi * kernel[row + o];
      }
      if (relu) for (let o = 0; o < outputs; o++) if (y[o] < 0) y[o] = 0;
      return y;
    }
    // Conv2D K x K, stride 2, "same" (TensorFlow pads after): kernel [K, K, in, out], ReLU.
    function conv(x, side, cin, kernel, bias, cout) {
      const half = side / 2, y = new Float64Array(half * half * cout);
      for (let i = 0; i < half; i++) for (let j = 0; j < half; j++) {
        const at = (i * half + j) * cout;
        for (let co = 0; co < cout; co++) y[at + co] = bias[co];
        for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) {
          const r = 2 * i + a, c = 2 * j + b;
          if (r >= side || c >= side) continue;
          for (let ci = 0; ci < cin; ci++) {
            const v = x[(r * side + c) * cin + ci], k = ((a * K + b) * cin + ci) * cout;
            for (let co = 0; co < cout; co++) y[at + co] += v * kernel[k + co];
          }
        }
      }
      for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
      return y;
    }
    function encode(input) {
      const c1 = conv(input, IN, 1, t["encoder.conv1.kernel"], t["encoder.conv1.bias"], C1);
      const c2 = conv(c1, IN / 2, C1, t["encoder.conv2.kernel"], t["encoder.conv2.bias"], C2);
      const hidden = dense(c2, FLAT, HIDDEN, t["encoder.dense.kernel"], t["encoder.dense.bias"], true);
      return dense(hidden, HIDDEN, L, t["encoder.z_mean.kernel"], t["encoder.z_mean.bias"], false);
    }
    // The decoder, laid out once at load for its loops (about 5.7 million multiply-adds a
    // decode, so well under a frame): each layer reads an input grid with a zero border (so no
    // tap needs a bounds test) and writes straight into the next one's interior; the stride-2
    // transposed convolutions are split into their four output phases, each a product over the
    // 1, 2 or 4 kernel taps that reach it. Nothing is allocated per decode.
    // A phase: for each output position, the input offsets of its taps, and its output offset.
    function gather(positions, taps, input, output) {
      const from = new Int32Array(positions * taps), to = new Int32Array(positions);
      for (let p = 0; p < positions; p++) {
        for (let tap = 0; tap < taps; tap++) from[p * taps + tap] = input(p, tap);
        to[p] = output(p);
      }
      return { positions, taps, from, to };
    }
    // Kernel [K, K, out, in] -> per phase [out / 4][tap][in][4]: a block of four outputs reads
    // its weights in order.
    function pack(kernel, cin, cout, tapIndices) {
      const w = new Float64Array(tapIndices.length * cin * cout);
      let n = 0;
      for (let co = 0; co < cout; co += 4) for (const tap of tapIndices) for (let ci = 0; ci < cin; ci++)
        for (let k = 0; k < 4; k++) w[n++] = kernel[(tap * cout + co + k) * cin + ci];
      return w;
    }
    // Stride 2, "same" (Keras crops the bottom and right): output (2m + py, 2q + px) sums taps
    // (py + 2u, px + 2v) of input (m - u, q - v). `side` is the input's; the input grid has a
    // zero row and column before it, as has the output grid, whose rows are `outRow` wide.
    function phases(side, cin, cout, kernel, outRow) {
      const inRow = side + 1, all = [];
      for (let py = 0; py < 2; py++) for (let px = 0; px < 2; px++) {
        const shifts = [];
        for (let ky = py; ky < K; ky += 2) for (let kx = px; kx < K; kx += 2) shifts.push([ky, kx]);
        const phase = gather(side * side, shifts.length,
          (p, tap) => {
            const m = Math.floor(p / side), q = p % side, [ky, kx] = shifts[tap];
            return ((m - (ky - py) / 2 + 1) * inRow + (q - (kx - px) / 2 + 1)) * cin;
          },
          (p) => ((2 * Math.floor(p / side) + py + 1) * outRow + 2 * (p % side) + px + 1) * cout);
        phase.weights = pack(kernel, cin, cout, shifts.map(([ky, kx]) => ky * K + kx));
        all.push(phase);
      }
      return all;
    }
    // y[to[p] + o] = relu(bias[o] + sum over taps t and inputs i of x[from[p, t] + i] * w), two
    // positions and four outputs at a time, so that each load feeds two or four multiply-adds.
    function product(x, phase, cin, cout, bias, y) {
      const { positions, taps, from, to, weights: w } = phase, span = taps * cin * 4;
      for (let co = 0; co < cout; co += 4) {
        for (let p = 0; p < positions; p += 2) {
          const pair = p + 1 < positions, q = pair ? p + 1 : p;
          let a0 = bias[co], a1 = bias[co + 1], a2 = bias[co + 2], a3 = bias[co + 3];
          let b0 = a0, b1 = a1, b2 = a2, b3 = a3, k = (co >> 2) * span;
          for (let tap = 0; tap < taps; tap++) {
            const xa = from[p * taps + tap], xb = from[q * taps + tap];
            for (let i = 0; i < cin; i++, k += 4) {
              const va = x[xa + i], vb = x[xb + i];
              const w0 = w[k], w1 = w[k + 1], w2 = w[k + 2], w3 = w[k + 3];
              a0 += va * w0; a1 += va * w1; a2 += va * w2; a3 += va * w3;
              b0 += vb * w0; b1 += vb * w1; b2 += vb * w2; b3 += vb * w3;
            }
          }
          const ya = to[p] + co, yb = to[q] + co;
          y[ya] = a0 > 0 ? a0 : 0; y[ya + 1] = a1 > 0 ? a1 : 0; y[ya + 2] = a2 > 0 ? a2 : 0; y[ya + 3] = a3 > 0 ? a3 : 0;
          if (pair) { y[yb] = b0 > 0 ? b0 : 0; y[yb + 1] = b1 > 0 ? b1 : 0; y[yb + 2] = b2 > 0 ? b2 : 0; y[yb + 3] = b3 > 0 ? b3 : 0; }
        }
      }
    }
    const decoder = (() => {
      const bias = (name) => Float64Array.from(t[name]);
      // Conv2DTranspose stride 1, "same": output (r, c) sums taps (a, b) of input (r + 1 - a,
      // c + 1 - b), at (r + 2 - a, c + 2 - b) in the grid with its border. Its kernel [K, K, 1,
      // D2] is already [tap][in].
      const lastWeights = Float64Array.from(t["decoder.deconv3.kernel"]), row = OUT + 2;
      const lastFrom = new Int32Array(PIXELS * TAPS);
      for (let r = 0; r < OUT; r++) for (let c = 0; c < OUT; c++) for (let a = 0; a < K; a++) for (let b = 0; b < K; b++)
        lastFrom[(r * OUT + c) * TAPS + a * K + b] = ((r + 2 - a) * row + c + 2 - b) * D2;
      return {
        denseKernel: Float64Array.from(t["decoder.dense.kernel"]), denseBias: bias("decoder.dense.bias"),
        first: phases(S0, D0, D1, t["decoder.deconv1.kernel"], S1 + 1), firstBias: bias("decoder.deconv1.bias"),
        second: phases(S1, D1, D2, t["decoder.deconv2.kernel"], row), secondBias: bias("decoder.deconv2.bias"),
        lastWeights, lastFrom, lastBias: t["decoder.deconv3.bias"][0],
        // Grids with their zero borders: S0 x S0 x D0 after one row and column, S1 x S1 x D1
        // likewise, OUT x OUT x D2 inside a border of one.
        g1: new Float64Array((S0 + 1) * (S0 + 1) * D0), g2: new Float64Array((S1 + 1) * (S1 + 1) * D1),
        g3: new Float64Array(row * row * D2),
      };
    })();
    // The OUT x OUT probabilities at latent point z, into `pixels`.
    function decode(z, pixels = new Float64Array(PIXELS)) {
      const d = decoder, g1 = d.g1, g2 = d.g2, g3 = d.g3;
      // Dense to S0 x S0 x D0, ReLU, into g1's interior.
      for (let p = 0; p < S0 * S0; p++) {
        const at = ((Math.floor(p / S0) + 1) * (S0 + 1) + (p % S0) + 1) * D0;
        for (let c = 0; c < D0; c++) {
          const o = p * D0 + c;
          let s = d.denseBias[o];
          for (let j = 0; j < L; j++) s += z[j] * d.denseKernel[j * DENSE + o];
          g1[at + c] = s > 0 ? s : 0;
        }
      }
      for (const phase of d.first) product(g1, phase, D0, D1, d.firstBias, g2);
      for (const phase of d.second) product(g2, phase, D1, D2, d.secondBias, g3);
      const w = d.lastWeights, from = d.lastFrom;
      for (let p = 0; p < PIXELS; p++) {
        let s = d.lastBias;
        for (let tap = 0; tap < TAPS; tap++) {
          const x = from[p * TAPS + tap], k = tap * D2;
          for (let ci = 0; ci < D2; ci++) s += g3[x + ci] * w[k + ci];
        }
        pixels[p] = 1 / (1 + Math.exp(-s));
      }
      return pixels;
    }
    // TensorFlow's bicubic resize (Keys, a = -0.5, half-pixel centres, weights at 1/1024 steps).
    function bicubic(x, side, outSide) {
      const scale = side / outSide;
      const inner = (s) => { const u = s / 1024; return ((1.5 * u - 2.5) * u * u) + 1; };
      const outer = (s) => { const u = s / 1024 + 1; return ((-0.5 * u + 2.5) * u - 4) * u + 2; };
      const taps = (index) => {
        const coordinate = (index + 0.5) * scale - 0.5, base = Math.floor(coordinate);
        const step = Math.round((coordinate - base) * 1024);
        const at = [base - 1, base, base + 1, base + 2];
        const w = [outer(step), inner(step), inner(1024 - step), outer(1024 - step)];
        const clamped = at.map((k) => Math.min(Math.max(k, 0), side - 1));
        const kept = w.map((v, k) => (clamped[k] === at[k] ? v : 0));
        const sum = kept.reduce((a, b) => a + b, 0);
        return { at: clamped, w: kept.map((v) => v / sum) };
      };
      const axis = Array.from({ length: outSide }, (_, i) => taps(i));
      const y = new Float64Array(outSide * outSide);
      for (let r = 0; r < outSide; r++) for (let c = 0; c < outSide; c++) {
        const ty = axis[r], tx = axis[c];
        let v = 0;
        for (let m = 0; m < 4; m++) {
          let down = 0;
          for (let n = 0; n < 4; n++) down += x[ty.at[n] * side + tx.at[m]] * ty.w[n];
          v += down * tx.w[m];
        }
        y[r * outSide + c] = Math.min(Math.max(v, 0), 1);
      }
      return y;
    }
    function paint(canvas, pixels, side) {
      const context = canvas.getContext("2d"), image = context.createImageData(side, side);
      for (let i = 0; i < side * side; i++) {
        const v = Math.round(Math.min(Math.max(pixels[i], 0), 1) * 255);
        image.data.set([v, v, v, 255], 4 * i);
      }
      context.putImageData(image, 0, 0);
    }

    const digits = floats(data.digits.inputs), labels = data.digits.labels, count = labels.length;
    const input = (i) => digits.subarray(i * IN * IN, (i + 1) * IN * IN);
    const codes = Array.from({ length: count }, (_, i) => encode(input(i)));
    const $ = (id) => document.getElementById(id);
    const explorer = (window.explorer = { encode, decode, bicubic, codes });

    // The latent plane: two dimensions on the axes, the others on sliders.
    const [ax, ay] = data.plane.dimensions, [lo, hi] = [data.plane.min, data.plane.max];
    const plane = $("plane"), size = plane.width;
    const toX = (v) => ((v - lo[0]) / (hi[0] - lo[0])) * size;
    const toY = (v) => size - ((v - lo[1]) / (hi[1] - lo[1])) * size;
    const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    const base = new Float64Array(L);
    let marks = [];
    function drawPlane() {
      const g = plane.getContext("2d");
      g.fillStyle = "#fff";
      g.fillRect(0, 0, size, size);
      for (let i = 0; i < count; i++) {
        g.fillStyle = colours[labels[i]];
        g.fillRect(toX(codes[i][ax]) - 1.5, toY(codes[i][ay]) - 1.5, 3, 3);
      }
      g.strokeStyle = "#000";
      for (const i of marks) { g.beginPath(); g.arc(toX(codes[i][ax]), toY(codes[i][ay]), 6, 0, 7); g.stroke(); }
      g.beginPath();
      g.moveTo(at[0] - 6, at[1]); g.lineTo(at[0] + 6, at[1]);
      g.moveTo(at[0], at[1] - 6); g.lineTo(at[0], at[1] + 6);
      g.stroke();
    }
    // The point under the pointer, the other dimensions at their sliders' values.
    let at = [size / 2, size / 2];
    const planePixels = new Float64Array(PIXELS), morphPixels = new Float64Array(PIXELS), upscalePixels = new Float64Array(PIXELS);
    function planeDecode() {
      const z = Float64Array.from(base);
      z[ax] = lo[0] + (at[0] / size) * (hi[0] - lo[0]);
      z[ay] = lo[1] + ((size - at[1]) / size) * (hi[1] - lo[1]);
      const pixels = decode(z, planePixels);
      drawPlane();
      paint($("plane-decode"), pixels, OUT);
      $("plane-z").textContent = "z = (" + Array.from(z, (v) => v.toFixed(2)).join(", ") + ")";
      explorer.plane = { z, pixels };
    }
    for (let j = 0; j < L && L > 2; j++) {
      if (j === ax || j === ay) continue;
      const label = document.createElement("label"), range = document.createElement("input");
      Object.assign(range, { type: "range", min: -4, max: 4, step: 0.01, value: 0, id: `z${j}` });
      range.addEventListener("input", () => { base[j] = Number(range.value); planeDecode(); });
      label.append(`z[${j}] `, range);
      $("sliders").append(label);
    }
    const pointer = (event, canvas) => {
      const r = canvas.getBoundingClientRect();
      return [((event.clientX - r.left) * canvas.width) / r.width, ((event.clientY - r.top) * canvas.height) / r.height];
    };
    plane.addEventListener("pointermove", (event) => { at = pointer(event, plane); planeDecode(); });

    // The morph: two test digits, a slider along the line between their encodings.
    const steps = data.morphSteps, morphFrom = $("morph-from"), morphTo = $("morph-to"), morphStep = $("morph-step");
    let clicks = 0;
    function morph() {
      const from = Math.min(Math.max(Number(morphFrom.value) | 0, 0), count - 1);
      const to = Math.min(Math.max(Number(morphTo.value) | 0, 0), count - 1);
      const k = Number(morphStep.value), s = Math.fround(k / (steps - 1));
      const z = codes[from].map((a, j) => Math.fround(Math.fround(1 - s) * a) + Math.fround(s * codes[to][j]));
      const pixels = decode(z, morphPixels);
      paint($("morph-decode"), pixels, OUT);
      marks = [from, to];
      drawPlane();
      explorer.morph = { from, to, step: k, steps, z, pixels };
    }
    for (const control of [morphFrom, morphTo, morphStep]) control.addEventListener("input", morph);
    plane.addEventListener("click", (event) => {
      const [x, y] = pointer(event, plane);
      let best = 0, distance = Infinity;
      for (let i = 0; i < count; i++) {
        const d = (toX(codes[i][ax]) - x) ** 2 + (toY(codes[i][ay]) - y) ** 2;
        if (d < distance) [best, distance] = [i, d];
      }
      (clicks++ % 2 === 0 ? morphFrom : morphTo).value = best;
      morph();
    });

    // Upscaling: a test digit, or one drawn on the 8x8 grid, by the model and by bicubic.
    const grid = $("draw"), drawn = new Float64Array(IN * IN);
    function upscale() {
      const z = encode(drawn), pixels = decode(z, upscalePixels), smooth = bicubic(drawn, IN, OUT);
      paint(grid, drawn, IN);
      paint($("upscale-model"), pixels, OUT);
      paint($("upscale-bicubic"), smooth, OUT);
      explorer.upscale = { input: Array.from(drawn), z, pixels, bicubic: smooth };
    }
    $("upscale-index").addEventListener("input", (event) => {
      const i = Math.min(Math.max(Number(event.target.value) | 0, 0), count - 1);
      drawn.set(input(i));
      upscale();
    });
    $("clear").addEventListener("click", () => { drawn.fill(0); upscale(); });
    const ink = (event) => {
      if (!(event.buttons & 1)) return;
      const [x, y] = pointer(event, grid), cell = Math.floor(y) * IN + Math.floor(x);
      if (x < 0 || y < 0 || x >= IN || y >= IN) return;
      drawn[cell] = event.shiftKey ? 0 : 1;
      upscale();
    };
    grid.addEventListener("pointerdown", ink);
    grid.addEventListener("pointermove", ink);

    $("explorer").hidden = false;
    // The write-up's morph, a 3 into a 2, half-way (from the first such test digits).
    if (labels.includes(3) && labels.includes(2)) [morphFrom.value, morphTo.value] = [labels.indexOf(3), labels.indexOf(2)];
    morphStep.value = (steps - 1) >> 1;
    morph();
    drawn.set(input(0));
    upscale();
    planeDecode();
    explorer.ready = true;
    })();
    """#
}
