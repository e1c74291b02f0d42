import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// Follows the mount's per-mount flags after it is up. No FUSE request tells
/// the daemon of `mount -o remount,noatime DIR`, but the mount table does:
/// poll(2) on /proc/self/mountinfo wakes with POLLPRI when it changes (like
/// `findmnt --poll`), and the mount's line (found by its mount ID, field 1,
/// which a remount keeps) then has the new flags.
///
/// What no daemon can know: a bind mount of this mount with other flags
/// (`mount --bind -o noatime`) shares its superblock, and a request does not
/// say through which mount it came; the flags of the original mount rule.
final class MountWatch {
  private let mountID: String
  private let vfs: VFS
  private var lastSeen: String

  /// Watches the topmost mount on `path`; nil if it is not in the table.
  init?(path: String, vfs: VFS) {
    guard let entry = MountTable.entries().last(where: { $0.mountPoint == path }) else {
      return nil
    }
    self.mountID = entry.mountID
    self.lastSeen = entry.mountOptions
    self.vfs = vfs
  }

  /// Starts the watching thread (after daemonizing: a fork keeps no thread).
  func start() {
    if let thread = startKernelThread({ [self] in loop() }) { pthread_detach(thread) }
  }

  private func loop() {
    let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      // Read to the end: poll reports changes made since that read.
      _ = lseek(fd, 0, SEEK_SET)
      while read(fd, &buffer, buffer.count) > 0 {}
      var pfd = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
      let ready = poll(&pfd, 1, -1)
      if ready < 0 && errno == EINTR { continue }
      guard ready > 0 else { return }
      guard let entry = MountTable.entries().first(where: { $0.mountID == mountID }) else {
        return  // unmounted: nothing left to follow
      }
      if entry.mountOptions != lastSeen {
        lastSeen = entry.mountOptions
        vfs.atimePolicy = AtimePolicy(mountinfoOptions: entry.mountOptions)
      }
    }
  }
}
