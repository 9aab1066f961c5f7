//! Framing of the messages a viewer sends after the handshake (RFC 6143 §7.5, and the
//! extensions noVNC uses: EnableContinuousUpdates, Fence, SetDesktopSize, QEMU extended key
//! events). A message type we cannot frame is an error: guessing its length would let a viewer
//! smuggle input past the filter inside a "message" we misread.

/// The longest ClientCutText payload accepted (larger is a protocol error, not memory use).
pub const MAX_CUT_TEXT: usize = 1024 * 1024;

/// One whole message from a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// The message type byte.
    pub kind: u8,
    /// The whole message, type byte included.
    pub bytes: Vec<u8>,
}

impl ClientMessage {
    /// Whether the message acts on the desktop (keys, pointer, clipboard, screen size, power):
    /// what a view-only viewer may not send. Everything else only shapes what it receives.
    pub fn is_input(&self) -> bool {
        matches!(
            self.kind,
            KEY_EVENT | POINTER_EVENT | CLIENT_CUT_TEXT | SET_DESKTOP_SIZE | XVP | QEMU
        )
    }
}

/// Why a viewer's stream cannot be framed; the bridge closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A message type this bridge does not know.
    #[error("unknown RFB client message type {0}")]
    UnknownType(u8),
    /// A QEMU client message subtype this bridge does not know.
    #[error("unknown QEMU client message subtype {0}")]
    UnknownQemuSubtype(u8),
    /// A ClientCutText over [`MAX_CUT_TEXT`].
    #[error("clipboard text of {0} bytes from a viewer; the limit is {MAX_CUT_TEXT}")]
    CutTextTooLarge(usize),
}

const SET_PIXEL_FORMAT: u8 = 0;
const SET_ENCODINGS: u8 = 2;
const FRAMEBUFFER_UPDATE_REQUEST: u8 = 3;
const KEY_EVENT: u8 = 4;
const POINTER_EVENT: u8 = 5;
const CLIENT_CUT_TEXT: u8 = 6;
const ENABLE_CONTINUOUS_UPDATES: u8 = 150;
const FENCE: u8 = 248;
const XVP: u8 = 250;
const SET_DESKTOP_SIZE: u8 = 251;
const QEMU: u8 = 255;

/// Accumulates a viewer's bytes and yields whole messages.
#[derive(Debug, Default)]
pub struct ClientFramer {
    buffer: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The length of the message at the start of `b`: `Ok(None)` if more bytes are needed to say.
fn message_len(b: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    Ok(match kind {
        SET_PIXEL_FORMAT => Some(20),
        SET_ENCODINGS => u16_at(b, 2).map(|n| 4 + 4 * n),
        FRAMEBUFFER_UPDATE_REQUEST => Some(10),
        KEY_EVENT => Some(8),
        POINTER_EVENT => Some(6),
        CLIENT_CUT_TEXT => match u32_at(b, 4) {
            None => None,
            Some(raw) => {
                // A negative length (as i32) announces the extended clipboard format, whose
                // payload is |length| bytes.
                let len = (raw as i32).unsigned_abs() as usize;
                if len > MAX_CUT_TEXT {
                    return Err(FrameError::CutTextTooLarge(len));
                }
                Some(8 + len)
            }
        },
        ENABLE_CONTINUOUS_UPDATES => Some(10),
        FENCE => b.get(8).map(|&n| 9 + usize::from(n)),
        XVP => Some(4),
        SET_DESKTOP_SIZE => b.get(6).map(|&n| 8 + 16 * usize::from(n)),
        QEMU => match b.get(1) {
            None => None,
            Some(0) => Some(12),
            Some(1) => match u16_at(b, 2) {
                None => None,
                Some(0 | 1) => Some(4),
                Some(2) => Some(10),
                Some(_) => return Err(FrameError::UnknownQemuSubtype(1)),
            },
            Some(&other) => return Err(FrameError::UnknownQemuSubtype(other)),
        },
        other => return Err(FrameError::UnknownType(other)),
    })
}

impl ClientFramer {
    /// A framer with nothing buffered.
    pub fn new() -> ClientFramer {
        ClientFramer::default()
    }

    /// Adds bytes received from the viewer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<ClientMessage>, FrameError> {
        let Some(len) = message_len(&self.buffer)? else {
            return Ok(None);
        };
        if self.buffer.len() < len {
            return Ok(None);
        }
        let rest = self.buffer.split_off(len);
        let bytes = std::mem::replace(&mut self.buffer, rest);
        Ok(Some(ClientMessage {
            kind: bytes[0],
            bytes,
        }))
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pointer(x: u16, y: u16) -> Vec<u8> {
        let mut m = vec![POINTER_EVENT, 1];
        m.extend_from_slice(&x.to_be_bytes());
        m.extend_from_slice(&y.to_be_bytes());
        m
    }

    fn sample_stream() -> Vec<Vec<u8>> {
        let mut set_encodings = vec![SET_ENCODINGS, 0, 0, 2];
        set_encodings.extend_from_slice(&[0, 0, 0, 7, 0xff, 0xff, 0xff, 0x21]);
        let mut cut = vec![CLIENT_CUT_TEXT, 0, 0, 0, 0, 0, 0, 5];
        cut.extend_from_slice(b"hello");
        let mut fence = vec![FENCE, 0, 0, 0, 0, 0, 0, 1, 3];
        fence.extend_from_slice(&[1, 2, 3]);
        let mut desktop_size = vec![SET_DESKTOP_SIZE, 0, 4, 0, 3, 0, 1, 0];
        desktop_size.extend_from_slice(&[0; 16]);
        vec![
            vec![SET_PIXEL_FORMAT; 20],
            set_encodings,
            vec![FRAMEBUFFER_UPDATE_REQUEST, 0, 0, 0, 0, 0, 5, 0, 3, 32],
            vec![KEY_EVENT, 1, 0, 0, 0, 0, 0, 0x61],
            pointer(10, 20),
            cut,
            vec![ENABLE_CONTINUOUS_UPDATES, 1, 0, 0, 0, 0, 5, 0, 3, 32],
            fence,
            desktop_size,
            vec![QEMU, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e],
            vec![XVP, 0, 1, 2],
        ]
    }

    #[test]
    fn every_message_novnc_sends_is_framed_and_classified() {
        let messages = sample_stream();
        let mut framer = ClientFramer::new();
        framer.push(&messages.concat());
        let mut seen = Vec::new();
        while let Some(m) = framer.next_message().unwrap() {
            seen.push(m);
        }
        assert_eq!(framer.pending(), 0);
        assert_eq!(
            seen.iter().map(|m| m.bytes.clone()).collect::<Vec<_>>(),
            messages
        );
        let input: Vec<u8> = seen
            .iter()
            .filter(|m| m.is_input())
            .map(|m| m.kind)
            .collect();
        assert_eq!(
            input,
            [
                KEY_EVENT,
                POINTER_EVENT,
                CLIENT_CUT_TEXT,
                SET_DESKTOP_SIZE,
                QEMU,
                XVP
            ]
        );
    }

    #[test]
    fn unknown_and_oversized_messages_are_errors() {
        let mut framer = ClientFramer::new();
        framer.push(&[42, 0, 0]);
        assert_eq!(framer.next_message(), Err(FrameError::UnknownType(42)));
        let mut framer = ClientFramer::new();
        framer.push(&[CLIENT_CUT_TEXT, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            framer.next_message(),
            Err(FrameError::CutTextTooLarge(_))
        ));
        let mut framer = ClientFramer::new();
        framer.push(&[QEMU, 9]);
        assert_eq!(
            framer.next_message(),
            Err(FrameError::UnknownQemuSubtype(9))
        );
        // Extended clipboard: a negative length announces |length| bytes.
        let mut framer = ClientFramer::new();
        let mut m = vec![CLIENT_CUT_TEXT, 0, 0, 0];
        m.extend_from_slice(&(-4i32).to_be_bytes());
        m.extend_from_slice(&[1, 2, 3, 4]);
        framer.push(&m);
        assert_eq!(framer.next_message().unwrap().unwrap().bytes, m);
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_frames_the_same(cuts in proptest::collection::vec(0usize..200, 0..20)) {
            let messages = sample_stream();
            let stream = messages.concat();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut framer = ClientFramer::new();
            let mut seen = Vec::new();
            for pair in points.windows(2) {
                framer.push(&stream[pair[0]..pair[1]]);
                while let Some(m) = framer.next_message().unwrap() {
                    seen.push(m.bytes);
                }
            }
            prop_assert_eq!(seen, messages);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut framer = ClientFramer::new();
            framer.push(&bytes);
            let mut total = 0;
            while let Ok(Some(m)) = framer.next_message() {
                total += m.bytes.len();
            }
            prop_assert!(total <= bytes.len());
        }
    }
}
