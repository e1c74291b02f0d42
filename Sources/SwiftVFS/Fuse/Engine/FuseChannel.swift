import SwiftVFSCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One /dev/fuse descriptor of a connection and the thread that serves it:
/// the session's own descriptor (for INIT), or a clone made with
/// FUSE_DEV_IOC_CLONE, which shares the connection's input queue but keeps
/// its own processing queue, so a reply must go back to the descriptor that
/// read the request (fuse_dev_do_write() looks the request up there).
///
/// Clones block in read(2) (the kernel wakes one reader per request). The
/// session's descriptor, read for INIT (and served alone if cloning fails),
/// is non-blocking: an empty queue waits in poll() beside the connection's
/// stop pipe, so the engine can end without a signal.
final class FuseChannel: @unchecked Sendable {
  /// `_IOR(229, 0, uint32_t)`: makes the descriptor it is called on a clone
  /// of the connection of the descriptor passed (fuse_dev_ioctl_clone()).
  static let iocClone: UInt = 0x8004_E500

  let fd: Int32
  /// True for a clone this channel opened (and closes).
  let owned: Bool

  private init(fd: Int32, owned: Bool) {
    self.fd = fd
    self.owned = owned
  }

  /// The session's descriptor, made non-blocking.
  static func session(_ fd: Int32) -> FuseChannel {
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    return FuseChannel(fd: fd, owned: false)
  }

  /// A new descriptor on the connection of `sessionFD`; nil (with errno set)
  /// if /dev/fuse cannot be opened or the clone fails.
  static func clone(of sessionFD: Int32) -> FuseChannel? {
    let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    var master = UInt32(bitPattern: sessionFD)
    guard ioctl(fd, iocClone, &master) == 0 else {
      let saved = errno
      close(fd)
      errno = saved
      return nil
    }
    return FuseChannel(fd: fd, owned: true)
  }

  /// A clone that does not block: read(2) says EAGAIN on an empty queue.
  /// The lead reader spins on one (FuseReaderGate).
  static func nonBlockingClone(of sessionFD: Int32) -> FuseChannel? {
    guard let channel = clone(of: sessionFD) else { return nil }
    let flags = fcntl(channel.fd, F_GETFL)
    guard flags >= 0, fcntl(channel.fd, F_SETFL, flags | O_NONBLOCK) == 0 else { return nil }
    return channel
  }

  deinit { if owned { close(fd) } }

  /// Why `receive` stopped.
  enum End: Error, Equatable {
    /// ENODEV: the file system was unmounted or the connection aborted.
    case unmounted
    /// The connection's stop descriptor became readable.
    case stopped
    /// Another errno from read(2) or poll(2).
    case failed(Int32)
  }

  /// Reads one request into `buffer`: its length, or why there will be no
  /// more. EINTR (unless `stopping`) and ENOENT (a request interrupted
  /// before it was read) are retried; on a non-blocking descriptor an empty
  /// queue waits in poll() beside `stopFD`.
  func receive(
    into buffer: UnsafeMutableRawBufferPointer, stopFD: Int32, stopping: borrowing Atomic<Bool>
  ) -> Result<Int, End> {
    while true {
      let n = read(fd, buffer.baseAddress, buffer.count)
      if n > 0 { return .success(n) }
      let e = n == 0 ? ENODEV : errno
      switch e {
      case EINTR:
        if stopping.load(ordering: .acquiring) { return .failure(.stopped) }
      case ENOENT:
        continue
      case EAGAIN:
        var fds = [
          pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
          pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, 2, -1)
        if ready < 0, errno != EINTR { return .failure(.failed(errno)) }
        if fds[1].revents != 0 { return .failure(.stopped) }
      // POLLERR on /dev/fuse (no connection): the next read says ENODEV.
      case ENODEV:
        return .failure(.unmounted)
      default:
        return .failure(.failed(e))
      }
    }
  }

  /// Reads this non-blocking descriptor until a request comes or `nanos`
  /// pass: its length and whether the first read found it, or nil (nothing
  /// came, or an error that the blocking read which follows will meet
  /// again).
  func spinReceive(
    into buffer: UnsafeMutableRawBufferPointer, nanos: UInt64
  ) -> (count: Int, atOnce: Bool)? {
    let deadline = FuseBridge.monotonicNanos() &+ nanos
    var atOnce = true
    while true {
      let n = read(fd, buffer.baseAddress, buffer.count)
      if n > 0 { return (n, atOnce) }
      atOnce = false
      guard n < 0, errno == EAGAIN || errno == EINTR || errno == ENOENT else { return nil }
      if FuseBridge.monotonicNanos() >= deadline { return nil }
    }
  }

  /// One writev() of a reply or notification: 0, or the negative errno
  /// (ENOENT: the request is no longer waited for; ENODEV: unmounted).
  static func writev(_ fd: Int32, _ iov: [iovec], expected: Int) -> Int32 {
    // A reply to a request an io_uring entry carried goes back to the entry.
    if FuseUringRoutes.isTag(fd) { return FuseUringRoutes.send(fd, iov, expected: expected) }
    while true {
      let n = iov.withUnsafeBufferPointer { Glibc.writev(fd, $0.baseAddress, Int32($0.count)) }
      if n == expected { return 0 }
      if n >= 0 { return -EIO }
      if errno == EINTR { continue }
      return -errno
    }
  }
}
