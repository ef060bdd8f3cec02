//! The protobuf wire format, read field by field from a borrowed message.
//!
//! A [`Cursor`] walks the fields of one message and hands out their values without copying:
//! varints and fixed-width numbers as integers, length-delimited payloads as sub-slices of the
//! request ([`Msg`]) that the caller reads as a string, bytes, packed numbers or a nested
//! message. Unknown fields are the caller's to ignore; groups (wire types 3 and 4, obsolete but
//! legal) are skipped here, up to their matching end tag. Every read is bounds-checked and a
//! malformed input is a [`Malformed`] error, never a panic.
//!
//! It does not decide what prost would accept (which wire type a known field may have, UTF-8 of
//! fields it does not read, nesting limits): `pipeline::scan` does, before the bytes get here.

/// Bytes that are not the protobuf message they were read as.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message} at byte {offset}: {problem}")]
pub struct Malformed {
    /// Offset in the request of the field (or varint) that is wrong.
    pub offset: usize,
    /// The protobuf message being read there.
    pub message: &'static str,
    /// What is wrong.
    pub problem: &'static str,
}

/// How deep groups of unknown fields may nest (prost's recursion limit).
const GROUP_DEPTH: u32 = 100;

/// A length-delimited payload: its bytes and where they start in the request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Msg<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) base: usize,
}

impl<'a> Msg<'a> {
    /// A whole request.
    pub(super) fn request(bytes: &'a [u8]) -> Msg<'a> {
        Msg { bytes, base: 0 }
    }

    /// The fields of this payload, read as message `message`.
    pub(super) fn fields(self, message: &'static str) -> Cursor<'a> {
        Cursor {
            msg: self,
            pos: 0,
            message,
        }
    }

    /// The payload as a string field of `message` (UTF-8 checked here, once).
    pub(super) fn str(self, message: &'static str) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.bytes).map_err(|_| Malformed {
            offset: self.base,
            message,
            problem: "a string field is not UTF-8",
        })
    }

    /// Appends the payload as packed little-endian 8-byte values (`fixed64`, `double`), which
    /// may sit at any alignment: hence a copy into `out` rather than a cast.
    pub(super) fn packed_fixed64<T>(
        self,
        message: &'static str,
        out: &mut Vec<T>,
        convert: fn(u64) -> T,
    ) -> Result<(), Malformed> {
        let chunks = self.bytes.chunks_exact(8);
        if !chunks.remainder().is_empty() {
            return Err(Malformed {
                offset: self.base,
                message,
                problem: "packed fixed-width values of a partial length",
            });
        }
        out.extend(chunks.map(|c| {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            convert(u64::from_le_bytes(word))
        }));
        Ok(())
    }

    /// Appends the payload as packed varints.
    pub(super) fn packed_varint(
        self,
        message: &'static str,
        out: &mut Vec<u64>,
    ) -> Result<(), Malformed> {
        let mut cur = self.fields(message);
        while cur.pos < self.bytes.len() {
            out.push(cur.varint()?);
        }
        Ok(())
    }
}

/// A field's value, as its wire type carries it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    Varint(u64),
    I64(u64),
    Len(Msg<'a>),
    /// A 4-byte value (no metrics field has one), stepped over.
    I32,
    /// A group, already skipped.
    Group,
}

/// Reads the fields of one message.
pub(super) struct Cursor<'a> {
    msg: Msg<'a>,
    pos: usize,
    message: &'static str,
}

impl<'a> Cursor<'a> {
    /// The next field: its number, its value, and the offset of its key.
    #[inline]
    pub(super) fn next(&mut self) -> Result<Option<(u32, Value<'a>, usize)>, Malformed> {
        if self.pos >= self.msg.bytes.len() {
            return Ok(None);
        }
        let at = self.pos;
        let (field, wire) = self.key()?;
        let value = match wire {
            0 => Value::Varint(self.varint()?),
            1 => Value::I64(u64::from_le_bytes(self.array::<8>(at)?)),
            2 => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| self.error(at, "length past the end"))?;
                let bytes = self.take(len, at)?;
                Value::Len(Msg {
                    bytes,
                    base: self.msg.base + self.pos - len,
                })
            }
            3 => {
                self.skip_group(field, at, GROUP_DEPTH)?;
                Value::Group
            }
            5 => {
                self.take(4, at)?;
                Value::I32
            }
            _ => return Err(self.error(at, "end-group tag without a start")),
        };
        Ok(Some((field, value, at)))
    }

    /// The error for a known field written with a wire type its type does not have.
    pub(super) fn wrong_type(&self, at: usize) -> Malformed {
        self.error(at, "a known field has the wrong wire type")
    }

    fn error(&self, at: usize, problem: &'static str) -> Malformed {
        Malformed {
            offset: self.msg.base + at,
            message: self.message,
            problem,
        }
    }

    fn take(&mut self, len: usize, at: usize) -> Result<&'a [u8], Malformed> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.msg.bytes.len())
            .ok_or_else(|| self.error(at, "length past the end"))?;
        let bytes = self.msg.bytes.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, at: usize) -> Result<[u8; N], Malformed> {
        let bytes = self.take(N, at)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// One varint, as prost reads it: at most 10 bytes, no overflow past `u64`.
    #[inline]
    fn varint(&mut self) -> Result<u64, Malformed> {
        if let Some(&byte) = self.msg.bytes.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        let start = self.pos;
        let rest = self.msg.bytes.get(start..).unwrap_or_default();
        let mut value = 0u64;
        for (i, &byte) in rest.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    break;
                }
                self.pos = start + i + 1;
                return Ok(value);
            }
        }
        Err(self.error(start, "truncated or overlong varint"))
    }

    /// A field key: number and wire type, checked as prost's `decode_key` does.
    #[inline]
    fn key(&mut self) -> Result<(u32, u8), Malformed> {
        let at = self.pos;
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| self.error(at, "field key out of range"))?;
        let wire = (key & 7) as u8;
        if wire > 5 {
            return Err(self.error(at, "invalid wire type"));
        }
        if key >> 3 == 0 {
            return Err(self.error(at, "field number 0"));
        }
        Ok((key >> 3, wire))
    }

    /// Skips a group's fields up to the end tag of `field`.
    fn skip_group(&mut self, field: u32, at: usize, depth: u32) -> Result<(), Malformed> {
        let Some(depth) = depth.checked_sub(1) else {
            return Err(self.error(at, "groups nested too deep"));
        };
        loop {
            if self.pos >= self.msg.bytes.len() {
                return Err(self.error(at, "group not closed"));
            }
            let inner_at = self.pos;
            let (inner, wire) = self.key()?;
            match wire {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8, inner_at)?;
                }
                2 => {
                    let len = self.varint()?;
                    let len = usize::try_from(len)
                        .map_err(|_| self.error(inner_at, "length past the end"))?;
                    self.take(len, inner_at)?;
                }
                3 => self.skip_group(inner, inner_at, depth)?,
                5 => {
                    self.take(4, inner_at)?;
                }
                _ if inner == field => return Ok(()),
                _ => return Err(self.error(inner_at, "end-group tag of another field")),
            }
        }
    }
}

/// A `sint32` as prost decodes it from its varint.
pub(super) fn sint32(value: u64) -> i32 {
    let value = value as u32;
    ((value >> 1) as i32) ^ (-((value & 1) as i32))
}
