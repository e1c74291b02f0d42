/// How a character node looks above the VFS, and who is told when that changes
/// (DESIGN.md, "Character devices").
///
/// Inside the VFS a char node is always S_IFCHR with its rdev. Above it, a
/// node that claims S_IFCHR sends open() to a *kernel* driver (or is refused
/// on a nodev mount) and never reaches us. So:
/// - a node whose number a registered `Cdev` serves is shown as a regular
///   file, so that open() reaches the Swift driver;
/// - any other char node is shown as what it is (S_IFCHR + rdev), as block
///   nodes are: `stat`, `ls -l` and `find -type c` tell the truth, and the
///   kernel refuses to open it (EACCES on a nodev mount).
///
/// The view of a node thus changes when a driver adds or deletes a cdev over
/// its number. The layer above (the FUSE bridge) may have cached the old
/// view: the VFS tells a `DeviceNodeViewObserver` every name of every node
/// whose view changed, and the observer drops those names from its cache.
/// The VFS itself holds no FUSE type. `VFS.invalidate(entry:in:)` and
/// `invalidate(inode:)` use the same observer (CacheInvalidation.swift).
public protocol DeviceNodeViewObserver: AnyObject, Sendable {
  /// These names now show their nodes otherwise: drop the cached entries.
  /// Called on the thread that changed the registry, with no VFS lock held;
  /// must not wait for the file system.
  func deviceNodeViewsChanged(_ names: [DeviceNodeName])
  /// Inode `ino` changed on its own: drop its cached attributes and pages
  /// (`VFS.invalidate(inode:)`). Same rules as above.
  func inodeChanged(_ ino: UInt64)
}

extension DeviceNodeViewObserver {
  public func inodeChanged(_ ino: UInt64) {}
}

/// One name of a device node: `name` in directory `parent`, for node `ino`
/// (inode numbers, as the layer above names them).
public struct DeviceNodeName: Sendable, Equatable {
  /// The directory's inode number.
  public let parent: UInt64
  /// The node's name in that directory.
  public let name: FileName
  /// The node's inode number.
  public let ino: UInt64
}

/// The observer slot of a VFS (weak: the bridge owns the VFS, not the reverse).
///
/// Locking: `lock` guards `observer`.
public final class DeviceNodeViews: @unchecked Sendable {
  private let lock = Lock()
  private weak var current: (any DeviceNodeViewObserver)?

  init() {}

  /// Who is told when device nodes change view (the FUSE bridge); nil: nobody.
  public var observer: (any DeviceNodeViewObserver)? {
    get { lock.withLock { current } }
    set { lock.withLock { current = newValue } }
  }
}

extension VFS {
  /// Whether a node of this type and number is shown as a regular file
  /// above the VFS: a char node that a registered cdev serves.
  public func showsAsRegularFile(type: FileType, rdev: DevT) -> Bool {
    type == .characterDevice && chrdevs.cdev(for: rdev) != nil
  }

  /// The type a node is shown with above the VFS (stat, readdir's d_type).
  public func shownType(_ inode: Inode) -> FileType {
    guard inode.type == .characterDevice else { return inode.type }
    let rdev = inode.lock.withLock { inode.rdev }
    return showsAsRegularFile(type: .characterDevice, rdev: rdev) ? .regular : .characterDevice
  }

  /// Called by the chrdev registry after cdevs over `ranges` were added or
  /// deleted: tells the observer every name of every char node in those
  /// ranges that the layer above may hold. Only inodes in the inode cache can
  /// be cached above (the kernel holds a lookup on each one it caches), so
  /// when none is in range, no tree walk is needed.
  func chrdevServiceChanged(_ ranges: [ChrdevRegistry.Region]) {
    guard !ranges.isEmpty, let observer = deviceNodeViews.observer else { return }
    let held = Set(
      icache.all.filter { inode in
        guard inode.type == .characterDevice else { return false }
        let rdev = inode.lock.withLock { inode.rdev }
        return ranges.contains { $0.contains(rdev) }
      }.map(ObjectIdentifier.init))
    guard !held.isEmpty else { return }
    let names = deviceNodeEntries().filter { held.contains(ObjectIdentifier($0.inode)) }.map {
      DeviceNodeName(parent: $0.parent.ino, name: $0.name, ino: $0.inode.ino)
    }
    if !names.isEmpty { observer.deviceNodeViewsChanged(names) }
  }
}
