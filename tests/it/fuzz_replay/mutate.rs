//! Deterministic mutations of seed inputs, in the spirit of libFuzzer's mutators but without
//! its coverage feedback: each case is a short stack of edits drawn from a generator seeded by
//! the case's own name, so case N of a target is the same input on every machine and every run.

use std::fmt;

/// Bytes the targets' formats treat specially: NUL (the codeowners target's separator), 0xff
/// (never UTF-8), quotes and backslashes (TOML and JSON strings), line ends, a UTF-8 BOM
/// (dropped by the request parser), TOML and CODEOWNERS syntax, a lone continuation byte, an
/// invisible character, a right-to-left override and a number too big for any integer.
const INTERESTING: [&[u8]; 20] = [
    b"\x00",
    b"\xff",
    b"\"",
    b"\\",
    b"\n",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"=",
    b"[",
    b"]",
    b"#",
    b"*",
    b"/",
    b"{",
    b"}",
    b"\x80",
    "\u{200b}".as_bytes(),
    "\u{202e}".as_bytes(),
    b"99999999999999999999",
    b"\\u0000",
];

/// SplitMix64: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by the FNV-1a hash of `parts`.
    pub fn new(parts: &[&[u8]]) -> Rng {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for byte in part.iter().chain([&0xffu8]) {
                hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Rng(hash)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n, which is a usize")
    }

    /// A position in `0..n` (or `0..=n` with `end`), one time in four among the first 16:
    /// the webhook target's control bytes and the files' first lines matter most.
    fn position(&mut self, n: usize, end: bool) -> usize {
        let span = if end { n + 1 } else { n };
        if self.below(4) == 0 {
            self.below(span.min(16))
        } else {
            self.below(span)
        }
    }
}

/// One edit, as it is described in a failure.
#[derive(Debug, Clone)]
pub enum Edit {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Overwrite {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        len: usize,
    },
    /// Keep `..at` of the input, then `from..` of another seed.
    Splice {
        seed: String,
        at: usize,
        from: usize,
    },
    /// Insert `times` more copies of the chunk `at..at + len` after it.
    Repeat {
        at: usize,
        len: usize,
        times: usize,
    },
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::FlipBit { at, bit } => write!(f, "flip bit {bit} of byte {at}"),
            Edit::SetByte { at, byte } => write!(f, "set byte {at} to {byte:#04x}"),
            Edit::Insert { at, bytes } => write!(f, "insert {} at {at}", shown(bytes)),
            Edit::Overwrite { at, bytes } => write!(f, "overwrite at {at} with {}", shown(bytes)),
            Edit::Delete { at, len } => write!(f, "delete {len} bytes at {at}"),
            Edit::Truncate { len } => write!(f, "truncate to {len} bytes"),
            Edit::Splice { seed, at, from } => {
                write!(f, "splice at {at} with {seed} from byte {from}")
            }
            Edit::Repeat { at, len, times } => {
                write!(f, "repeat the {len} bytes at {at} {times} more times")
            }
        }
    }
}

fn shown(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

/// A stack of one to four edits of `data`, drawn from `rng`; `seeds` are the corpus the
/// splices draw from, by name.
pub fn mutate(rng: &mut Rng, data: &[u8], seeds: &[(String, Vec<u8>)]) -> (Vec<u8>, Vec<Edit>) {
    let mut data = data.to_vec();
    let mut edits = Vec::new();
    for _ in 0..=rng.below(4) {
        let edit = draw(rng, &data, seeds);
        apply(&edit, &mut data, seeds);
        edits.push(edit);
    }
    (data, edits)
}

fn interesting_or_random(rng: &mut Rng) -> Vec<u8> {
    if rng.below(3) == 0 {
        vec![rng.next().to_le_bytes()[0]]
    } else {
        INTERESTING[rng.below(INTERESTING.len())].to_vec()
    }
}

fn draw(rng: &mut Rng, data: &[u8], seeds: &[(String, Vec<u8>)]) -> Edit {
    let n = data.len();
    let kind = if n == 0 { 2 } else { rng.below(9) };
    match kind {
        0 => Edit::FlipBit {
            at: rng.position(n, false),
            bit: u8::try_from(rng.below(8)).expect("below 8"),
        },
        1 => Edit::SetByte {
            at: rng.position(n, false),
            byte: rng.next().to_le_bytes()[0],
        },
        2 | 3 => Edit::Insert {
            at: rng.position(n, true),
            bytes: interesting_or_random(rng),
        },
        4 => Edit::Overwrite {
            at: rng.position(n, false),
            bytes: interesting_or_random(rng),
        },
        5 => {
            let at = rng.position(n, false);
            Edit::Delete {
                at,
                len: 1 + rng.below((n - at).min(64)),
            }
        }
        6 => Edit::Truncate { len: rng.below(n) },
        7 => {
            let (seed, other) = &seeds[rng.below(seeds.len())];
            Edit::Splice {
                seed: seed.clone(),
                at: rng.position(n, true),
                from: rng.below(other.len() + 1),
            }
        }
        _ => {
            let at = rng.position(n, false);
            Edit::Repeat {
                at,
                len: 1 + rng.below((n - at).min(64)),
                times: 1 + rng.below(16),
            }
        }
    }
}

fn apply(edit: &Edit, data: &mut Vec<u8>, seeds: &[(String, Vec<u8>)]) {
    match edit {
        Edit::FlipBit { at, bit } => data[*at] ^= 1 << bit,
        Edit::SetByte { at, byte } => data[*at] = *byte,
        Edit::Insert { at, bytes } => {
            data.splice(*at..*at, bytes.iter().copied());
        }
        Edit::Overwrite { at, bytes } => {
            let end = (*at + bytes.len()).min(data.len());
            data.splice(*at..end, bytes.iter().copied());
        }
        Edit::Delete { at, len } => {
            data.drain(*at..*at + len);
        }
        Edit::Truncate { len } => data.truncate(*len),
        Edit::Splice { seed, at, from } => {
            let other = seeds
                .iter()
                .find(|(name, _)| name == seed)
                .map(|(_, bytes)| bytes)
                .expect("a seed of this corpus");
            data.truncate(*at);
            data.extend_from_slice(&other[*from..]);
        }
        Edit::Repeat { at, len, times } => {
            let chunk = data[*at..*at + len].repeat(*times);
            data.splice(*at + len..*at + len, chunk);
        }
    }
}

#[test]
fn the_same_case_is_the_same_input_and_every_edit_is_drawn() {
    let seeds = vec![
        (
            "seed-a".to_owned(),
            b"iam_user = \"alice\"\nreason = \"a reason\"\n".to_vec(),
        ),
        ("seed-b".to_owned(), Vec::new()),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for case in 0..500u64 {
        let key = case.to_le_bytes();
        for (_, seed) in &seeds {
            let (once, edits) = mutate(&mut Rng::new(&[b"t", &key]), seed, &seeds);
            let (twice, _) = mutate(&mut Rng::new(&[b"t", &key]), seed, &seeds);
            assert_eq!(once, twice, "case {case}");
            kinds.extend(
                edits
                    .iter()
                    .map(|e| format!("{e:?}").split([' ', '{']).next().map(str::to_owned)),
            );
        }
    }
    assert_eq!(kinds.len(), 8, "{kinds:?}");
}
