//! Structural check of a zstd file (RFC 8878) without decompressing it: walks frame headers
//! and block headers to the last block (and checksum) of every frame. A streaming zstd decoder
//! hands out what it could decode and then reports a clean end when the input stops mid-frame,
//! so a truncated `.dbn.zst` would otherwise replay as a shorter, valid-looking capture.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const MAGIC: u32 = 0xFD2F_B528;

/// `Ok(())` if every frame is complete; else the byte offset where the file stops making
/// sense and what was expected there.
pub(super) fn check(path: &Path) -> io::Result<Result<(), (u64, String)>> {
    let len = std::fs::metadata(path)?.len();
    let mut r = BufReader::new(File::open(path)?);
    let mut pos: u64 = 0;
    let mut frames = 0;
    while pos < len {
        let need = |pos: u64, n: u64, what: &str| -> Result<(), (u64, String)> {
            if pos + n > len {
                Err((pos, format!("expected {what} ({n} bytes), the file ends after {} bytes", len - pos)))
            } else {
                Ok(())
            }
        };
        if let Err(e) = need(pos, 4, "a zstd frame magic number") {
            return Ok(Err(e));
        }
        let mut b4 = [0u8; 4];
        r.read_exact(&mut b4)?;
        let magic = u32::from_le_bytes(b4);
        pos += 4;
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            // Skippable frame: a 4-byte size, then that many bytes.
            if let Err(e) = need(pos, 4, "a skippable frame size") {
                return Ok(Err(e));
            }
            r.read_exact(&mut b4)?;
            pos += 4;
            let size = u64::from(u32::from_le_bytes(b4));
            if let Err(e) = need(pos, size, "the skippable frame's content") {
                return Ok(Err(e));
            }
            r.seek(SeekFrom::Current(size as i64))?;
            pos += size;
            continue;
        }
        if magic != MAGIC {
            return Ok(Err((pos - 4, format!("expected a zstd frame, found magic {magic:#010x}"))));
        }
        if let Err(e) = need(pos, 1, "a frame header descriptor") {
            return Ok(Err(e));
        }
        let mut d = [0u8; 1];
        r.read_exact(&mut d)?;
        pos += 1;
        let fhd = d[0];
        let single_segment = fhd & 0x20 != 0;
        let checksum = fhd & 0x04 != 0;
        let did = [0u64, 1, 2, 4][(fhd & 0x03) as usize];
        let fcs = match fhd >> 6 {
            0 => u64::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let header_rest = u64::from(!single_segment) + did + fcs;
        if let Err(e) = need(pos, header_rest, "the rest of the frame header") {
            return Ok(Err(e));
        }
        r.seek(SeekFrom::Current(header_rest as i64))?;
        pos += header_rest;
        loop {
            if let Err(e) = need(pos, 3, "a block header") {
                return Ok(Err(e));
            }
            let mut h = [0u8; 3];
            r.read_exact(&mut h)?;
            pos += 3;
            let bh = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
            let last = bh & 1 != 0;
            let size = u64::from(bh >> 3);
            let on_disk = match (bh >> 1) & 3 {
                0 | 2 => size,
                1 => 1,
                _ => return Ok(Err((pos - 3, "expected a block header, found the reserved block type".into()))),
            };
            if let Err(e) = need(pos, on_disk, "a block's content") {
                return Ok(Err(e));
            }
            r.seek(SeekFrom::Current(on_disk as i64))?;
            pos += on_disk;
            if last {
                break;
            }
        }
        if checksum {
            if let Err(e) = need(pos, 4, "the frame checksum") {
                return Ok(Err(e));
            }
            r.seek(SeekFrom::Current(4))?;
            pos += 4;
        }
        frames += 1;
    }
    if frames == 0 {
        return Ok(Err((0, "expected at least one zstd frame, found none".into())));
    }
    Ok(Ok(()))
}
