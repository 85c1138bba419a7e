// The auditor's check in the browser (issue 13, R-SV-4): does the platform's log
// today extend a checkpoint kept from earlier? The platform answers a consistency
// proof (RFC 9162 §2.1.4); this page recomputes both roots from it with the
// browser's own SHA-256 and, where the browser has Ed25519 (WebCrypto), checks the
// checkpoints' signatures too. Nothing here trusts the platform's word: a silent
// edit or deletion of an earlier record makes the check fail. The full audit (every
// record re-verified) is `keshi-platform audit --from CHECKPOINT.json`.

function unhex(s) {
  if (typeof s !== "string" || !/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`not hex: ${s}`);
  return new Uint8Array(s.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** SHA-256(0x01 ‖ left ‖ right): an inner node (RFC 6962). */
async function node(left, right) {
  const b = new Uint8Array(65);
  b[0] = 1;
  b.set(left, 1);
  b.set(right, 33);
  return sha256(b);
}

/** Whether `proof` shows the tree of `second` leaves (root `secondRoot`) extends
 * the tree of `first` leaves (root `firstRoot`); roots and proof as hex. The same
 * algorithm as `keshi_protocol::merkle::verify_consistency`. */
export async function consistent(first, second, firstRoot, secondRoot, proof) {
  if (first > second) return false;
  const fr0 = unhex(firstRoot);
  const sr0 = unhex(secondRoot);
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (first === second) return proof.length === 0 && same(fr0, sr0);
  if (first === 0) return proof.length === 0;
  const path = proof.map(unhex);
  if ((first & (first - 1)) === 0) path.unshift(fr0);
  if (!path.length) return false;
  // Sizes beyond 2^53 do not occur in a browser's lifetime of this log; BigInt keeps
  // the shifts exact anyway.
  let f = BigInt(first - 1);
  let s = BigInt(second - 1);
  while (f & 1n) {
    f >>= 1n;
    s >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (s === 0n) return false;
    if (f & 1n || f === s) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      while ((f & 1n) === 0n && f !== 0n) {
        f >>= 1n;
        s >>= 1n;
      }
    } else {
      sr = await node(sr, c);
    }
    f >>= 1n;
    s >>= 1n;
  }
  return s === 0n && same(fr, fr0) && same(sr, sr0);
}

/** The signed bytes of a checkpoint (`Checkpoint::message`). */
function message(cp) {
  return new TextEncoder().encode(`keshi-checkpoint-v1\nsize ${cp.size}\nroot ${cp.root}\ntime_ms ${cp.time_ms}\n`);
}

/** `true` or `false` when the browser can check an Ed25519 signature, `null` when it
 * cannot (the command-line audit does). */
export async function signed(cp, keyHex) {
  try {
    const key = await crypto.subtle.importKey("raw", unhex(keyHex), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, unhex(cp.signature), message(cp));
  } catch (e) {
    if (e instanceof DOMException && e.name === "NotSupportedError") return null;
    return false;
  }
}
