// Line diffs and the three-way merge that reapplies an admin's edit on a newer version.

/** Matched line pairs [[i, j], ...] of a longest common subsequence of a and b (arrays). */
export function matches(a, b) {
    let start = 0;
    while (start < a.length && start < b.length && a[start] === b[start]) start++;
    let endA = a.length;
    let endB = b.length;
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
        endA--;
        endB--;
    }
    const pairs = [];
    for (let k = 0; k < start; k++) pairs.push([k, k]);
    const n = endA - start;
    const m = endB - start;
    if (n > 0 && m > 0) {
        // lengths[i][j]: LCS length of a[start+i:endA] and b[start+j:endB].
        const width = m + 1;
        const lengths = new Uint32Array((n + 1) * width);
        for (let i = n - 1; i >= 0; i--) {
            for (let j = m - 1; j >= 0; j--) {
                lengths[i * width + j] =
                    a[start + i] === b[start + j]
                        ? lengths[(i + 1) * width + j + 1] + 1
                        : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
            }
        }
        let i = 0;
        let j = 0;
        while (i < n && j < m) {
            if (a[start + i] === b[start + j]) {
                pairs.push([start + i, start + j]);
                i++;
                j++;
            } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) i++;
            else j++;
        }
    }
    for (let k = 0; k < a.length - endA; k++) pairs.push([endA + k, endB + k]);
    return pairs;
}

export function lines(text) {
    return String(text).replace(/\r\n/g, "\n").split("\n");
}

/**
 * A unified diff of two texts as rows {kind: " " | "-" | "+" | "…", text, oldLine, newLine},
 * with ``context`` unchanged lines around each change.
 */
export function lineDiff(oldText, newText, context = 2) {
    const a = lines(oldText);
    const b = lines(newText);
    const rows = [];
    let i = 0;
    let j = 0;
    for (const [mi, mj] of [...matches(a, b), [a.length, b.length]]) {
        while (i < mi) rows.push({ kind: "-", text: a[i], oldLine: ++i });
        while (j < mj) rows.push({ kind: "+", text: b[j], newLine: ++j });
        if (mi < a.length) rows.push({ kind: " ", text: a[mi], oldLine: ++i, newLine: ++j });
    }
    const near = rows.map(() => false);
    rows.forEach((row, k) => {
        if (row.kind === " ") return;
        for (let d = Math.max(0, k - context); d <= Math.min(rows.length - 1, k + context); d++) near[d] = true;
    });
    const out = [];
    rows.forEach((row, k) => {
        if (near[k]) out.push(row);
        else if (out.length && out[out.length - 1].kind !== "…") out.push({ kind: "…", text: "" });
    });
    if (out.length && out[out.length - 1].kind === "…") out.pop();
    return out;
}

function same(x, y) {
    return x.length === y.length && x.every((line, k) => line === y[k]);
}

/**
 * Reapply the change base -> mine on theirs (a three-way merge by lines). Returns
 * {text, conflicts}: regions both sides changed differently are kept with conflict markers,
 * for the admin to resolve (the preview then points at them as YAML errors).
 */
export function merge3(baseText, mineText, theirsText) {
    const base = lines(baseText);
    const mine = lines(mineText);
    const theirs = lines(theirsText);
    const inMine = new Map(matches(base, mine));
    const inTheirs = new Map(matches(base, theirs));
    const stable = [];
    for (let k = 0; k < base.length; k++) {
        if (inMine.has(k) && inTheirs.has(k)) stable.push([k, inMine.get(k), inTheirs.get(k)]);
    }
    stable.push([base.length, mine.length, theirs.length]);
    const out = [];
    let conflicts = 0;
    let i = 0;
    let a = 0;
    let b = 0;
    for (const [k, x, y] of stable) {
        const o = base.slice(i, k);
        const m = mine.slice(a, x);
        const t = theirs.slice(b, y);
        if (same(m, o)) out.push(...t);
        else if (same(t, o) || same(m, t)) out.push(...m);
        else {
            conflicts++;
            out.push("<<<<<<< your edit", ...m, "=======", ...t, ">>>>>>> the new live version");
        }
        if (k < base.length) out.push(base[k]);
        i = k + 1;
        a = x + 1;
        b = y + 1;
    }
    return { text: out.join("\n"), conflicts };
}
