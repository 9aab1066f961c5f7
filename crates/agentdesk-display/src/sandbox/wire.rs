//! The messages between agentdesk and a sandbox's init, over a `SOCK_SEQPACKET` socket pair
//! (one message per datagram; descriptors ride along as `SCM_RIGHTS`).
//!
//! A message is a list of byte strings, each preceded by its length (u32, little-endian).
//! agentdesk sends `spawn` (program, working directory, arguments, environment; the child's
//! stdin, stdout, stderr and an optional kept descriptor attached); the init answers `ok`
//! (the child's pid in the sandbox, its pidfd attached) or `err` (why), and later `exit` (the
//! pid and its raw wait status) for each child that ended.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The largest message (a spawn request with a long command line and environment).
pub(crate) const MAX_MESSAGE: usize = 256 * 1024;
/// The most descriptors one message carries.
pub(crate) const MAX_FDS: usize = 4;

/// Encodes fields into one message.
pub(crate) fn encode(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// Decodes a message into its fields; `None` if it is malformed.
pub(crate) fn decode(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        fields.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Some(fields)
}

/// Sends one message with `fds` attached.
pub(crate) fn send(
    socket: BorrowedFd<'_>,
    message: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("too many descriptors for one message"));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[io::IoSlice::new(message)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != message.len() {
        return Err(io::Error::other("a message was cut short"));
    }
    Ok(())
}

/// Receives one message and its descriptors. `Ok(None)` at end of stream (the other side
/// closed).
pub(crate) fn receive(socket: BorrowedFd<'_>) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [io::IoSliceMut::new(&mut buffer)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if received.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    if received.flags.contains(rustix::net::ReturnFlags::TRUNC) {
        return Err(io::Error::other("a message was too long"));
    }
    buffer.truncate(received.bytes);
    Ok(Some((buffer, fds)))
}

/// A connected `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub(crate) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_garbage_is_refused() {
        let message = encode(&[b"spawn", b"", b"xterm"]);
        assert_eq!(
            decode(&message).unwrap(),
            vec![b"spawn".to_vec(), vec![], b"xterm".to_vec()]
        );
        assert!(decode(&message[..message.len() - 1]).is_none());
        assert!(decode(&[1, 0]).is_none());
    }

    #[test]
    fn messages_carry_descriptors() {
        let (a, b) = pair().unwrap();
        use std::os::fd::AsFd as _;
        let (r, w) = rustix::pipe::pipe().unwrap();
        send(a.as_fd(), &encode(&[b"hello"]), &[w.as_fd()]).unwrap();
        drop(w);
        let (message, fds) = receive(b.as_fd()).unwrap().unwrap();
        assert_eq!(decode(&message).unwrap(), vec![b"hello".to_vec()]);
        assert_eq!(fds.len(), 1);
        rustix::io::write(&fds[0], b"x").unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(rustix::io::read(&r, &mut byte).unwrap(), 1);
        drop(a);
        assert!(receive(b.as_fd()).unwrap().is_none());
    }
}
