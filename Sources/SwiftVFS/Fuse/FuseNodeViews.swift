import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The char-node rule at the FUSE boundary (`DeviceNodeViews` states it): the
/// attributes and d_type the kernel is given, and the invalidations sent when
/// a driver comes or goes.
extension FuseBridge {
  /// A node's attributes as the kernel sees them: a driver-backed char node
  /// as a regular file, everything else as it is.
  func attributes(_ st: Stat) -> Glibc.stat {
    let type = FileType(rawValue: st.mode & FileType.mask)
    let asRegular = type.map { vfs.showsAsRegularFile(type: $0, rdev: st.rdev) } ?? false
    return FuseAttributes.stat(st, asRegularFile: asRegular)
  }

  /// The d_type of a readdir entry, by the same rule as `attributes`.
  func shownType(_ entry: DirEntry) -> FileType {
    guard entry.type == .characterDevice, let inode = entry.inode else { return entry.type }
    return vfs.shownType(inode)
  }

  /// `shownType` of an entry of a listing of names.
  func shownType(_ entry: DirEntryView) -> FileType {
    guard entry.type == .characterDevice, let inode = entry.inode else { return entry.type }
    return vfs.shownType(inode)
  }
}

/// Tells the kernel to drop the entries of char nodes whose view changed.
///
/// Why entries: a cached dentry whose lookup now reports another file type is
/// dropped by fuse_dentry_revalidate() (fuse_stale_inode()), and the new
/// lookup makes fuse_iget() mark the old inode bad and build a new one of the
/// new type. fuse_lowlevel_notify_inval_entry() d_invalidate()s the dentry, so
/// the next path walk looks the name up again even within entry_timeout.
/// Attributes alone (notify_inval_inode) would not do: a GETATTR that reports
/// another type makes the inode bad and the stat fails with EIO. A file
/// opened through the old view then fails with EIO too (its kernel inode is
/// bad), where Linux would let it go on with the fops it opened with.
///
/// A lookup answered with the old view just before the change but read by
/// the kernel after the invalidation would keep the old view until its
/// timeout; FUSE offers no sequence number for entries to prevent that.
///
/// The kernel takes the parent directory's lock to invalidate, so a
/// notification sent from a request that the kernel serves under that lock
/// (or from the only loop thread while another request holds it) would wait
/// forever: they are sent from a thread of their own. `detach` (before the
/// session is destroyed) waits for that thread's current send.
///
/// Locking: `lock` guards `kernel` and is held across each send.
final class FuseNotifier: DeviceNodeViewObserver, @unchecked Sendable {
  private let lock = Lock()
  private var kernel: FuseNotificationTarget?
  private let nodeIDs: FuseNodeIDs

  init(nodeIDs: FuseNodeIDs) { self.nodeIDs = nodeIDs }

  func attach(_ kernel: FuseNotificationTarget) { lock.withLock { self.kernel = kernel } }

  func detach() { lock.withLock { kernel = nil } }

  func deviceNodeViewsChanged(_ names: [DeviceNodeName]) {
    send(Job(notifier: self, names: names))
  }

  /// `VFS.invalidate(inode:)`: like fuse_lowlevel_notify_inval_inode() for
  /// the attributes and every cached page, from the same thread kind.
  func inodeChanged(_ ino: UInt64) {
    send(Job(notifier: self, names: [], inodes: [ino]))
  }

  private func send(_ job: Job) {
    let thread = startKernelThread {
      for entry in job.names {
        job.notifier.invalidateEntry(parent: entry.parent, name: entry.name.bytes)
      }
      for ino in job.inodes { job.notifier.invalidateInode(ino) }
    }
    if let thread { pthread_detach(thread) }
  }

  /// Like fuse_lowlevel_notify_inval_entry(); ENOENT (the kernel holds no
  /// such entry) and errors after unmount are nothing to act on. libfuse
  /// sends the name's terminating NUL too: it must be there.
  private func invalidateEntry(parent: UInt64, name: [UInt8]) {
    lock.withLock {
      guard let kernel else { return }
      kernel.invalidateEntry(parent: nodeIDs.nodeID(ofIno: parent), name: name)
    }
  }

  /// ENOENT (the kernel holds no such inode) is nothing to act on.
  private func invalidateInode(_ ino: UInt64) {
    lock.withLock {
      guard let kernel else { return }
      kernel.invalidateInode(nodeIDs.nodeID(ofIno: ino), offset: 0, length: 0)
    }
  }

  private final class Job {
    let notifier: FuseNotifier
    let names: [DeviceNodeName]
    let inodes: [UInt64]
    init(notifier: FuseNotifier, names: [DeviceNodeName], inodes: [UInt64] = []) {
      self.notifier = notifier
      self.names = names
      self.inodes = inodes
    }
  }
}
