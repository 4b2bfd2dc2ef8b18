//! Cuts the byte stream of a serial port into sentences, each with the
//! local instant of the read that delivered its `$`. Pure: the caller reads
//! the device and the clock.
//!
//! A sentence starts at `$` and ends at CR or LF (CR LF, LF alone and CR
//! alone all occur). Bytes outside a sentence other than line ends and
//! blanks are noise; a `$` inside a sentence cuts the one before it short.
//! No more than [`MAX_SENTENCE_BYTES`] are kept of any sentence, so a
//! stream without line ends cannot grow memory.
//!
//! The instant kept is that of the sentence's `$`, not of the noise that
//! may precede it on the same line: the `$` may have come in a later read,
//! and the lower end of the interval holds only from an instant at which
//! the sentence had begun to arrive (see `epoch::sample_interval`).

use super::parse::MAX_SENTENCE_BYTES;
use tt_core::LocalInstant;

/// One piece of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A sentence: its `$` and everything up to, not including, its line
    /// end.
    Sentence {
        /// The bytes, starting with `$`.
        bytes: &'a [u8],
        /// The local instant right after the read that returned the `$`.
        arrival: LocalInstant,
    },
    /// Bytes outside any sentence.
    Noise {
        /// How many.
        len: usize,
    },
    /// A sentence longer than [`MAX_SENTENCE_BYTES`] (its length so far).
    TooLong {
        /// Bytes seen, at least.
        len: usize,
    },
    /// A sentence cut short by the `$` of the next one.
    Truncated {
        /// Bytes it had.
        len: usize,
    },
}

/// The framer's state between reads.
#[derive(Debug)]
pub struct Framer {
    sentence: Vec<u8>,
    /// Bytes of the current sentence, kept or not.
    seen: usize,
    in_sentence: bool,
    arrival: LocalInstant,
    noise: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    /// An empty framer, outside any sentence.
    pub fn new() -> Self {
        Framer {
            sentence: Vec::with_capacity(MAX_SENTENCE_BYTES),
            seen: 0,
            in_sentence: false,
            arrival: LocalInstant::from_nanos(0),
            noise: 0,
        }
    }

    /// Feeds the bytes of one read, which returned at `arrival`, and hands
    /// every piece it completes to `emit`, in stream order.
    pub fn push(&mut self, bytes: &[u8], arrival: LocalInstant, mut emit: impl FnMut(Frame<'_>)) {
        for &byte in bytes {
            match byte {
                b'$' => {
                    self.end_noise(&mut emit);
                    if self.in_sentence {
                        emit(Frame::Truncated { len: self.seen });
                    }
                    self.sentence.clear();
                    self.sentence.push(b'$');
                    self.seen = 1;
                    self.in_sentence = true;
                    self.arrival = arrival;
                }
                b'\r' | b'\n' => {
                    self.end_noise(&mut emit);
                    if self.in_sentence {
                        self.in_sentence = false;
                        if self.seen > MAX_SENTENCE_BYTES {
                            emit(Frame::TooLong { len: self.seen });
                        } else {
                            emit(Frame::Sentence {
                                bytes: &self.sentence,
                                arrival: self.arrival,
                            });
                        }
                    }
                }
                _ if self.in_sentence => {
                    self.seen = self.seen.saturating_add(1);
                    if self.sentence.len() < MAX_SENTENCE_BYTES {
                        self.sentence.push(byte);
                    }
                }
                b' ' | b'\t' => self.end_noise(&mut emit),
                _ => self.noise = self.noise.saturating_add(1),
            }
        }
    }

    fn end_noise(&mut self, emit: &mut impl FnMut(Frame<'_>)) {
        if self.noise > 0 {
            emit(Frame::Noise { len: self.noise });
            self.noise = 0;
        }
    }
}
