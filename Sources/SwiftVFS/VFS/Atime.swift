import Synchronization

/// When a read moves atime: the atime flags of a mount (the kernel's
/// MNT_NOATIME, MNT_NODIRATIME and MNT_RELATIME in `vfsmount.mnt_flags`).
///
/// The kernel's FUSE marks every inode S_NOATIME, so on a FUSE mount the
/// kernel never moves atime itself: the VFS here does it, with the flags of
/// the one FUSE mount applied to every superblock in the tree.
public struct AtimePolicy: Sendable, Hashable, CustomStringConvertible {
  /// MNT_NOATIME: reads never move atime.
  public var noatime = false
  /// MNT_NODIRATIME: listing a directory never moves its atime.
  public var nodiratime = false
  /// MNT_RELATIME: move it only when it is not newer than mtime or ctime,
  /// or is a day old. Off (and noatime off) is strictatime.
  public var relatime = true

  /// An atime policy; the default is relatime, as mount(8) gives.
  public init(noatime: Bool = false, nodiratime: Bool = false, relatime: Bool = true) {
    self.noatime = noatime
    self.nodiratime = nodiratime
    self.relatime = relatime
  }

  /// The kernel's default for a new mount.
  public static let `default` = AtimePolicy()

  /// Like path_mount() turning MS_* flags into mnt_flags: relatime unless
  /// noatime; strictatime clears both relatime and noatime. `options` are
  /// mount(8)'s words, the last of a pair (atime/noatime...) winning.
  public init(options: MountOptions) {
    var noatimeFlag = false
    var nodiratimeFlag = false
    var strictatimeFlag = false
    for (key, value) in options.items where value == nil {
      switch key {
      case "noatime": noatimeFlag = true
      case "atime": noatimeFlag = false
      case "nodiratime": nodiratimeFlag = true
      case "diratime": nodiratimeFlag = false
      case "strictatime": strictatimeFlag = true
      case "nostrictatime": strictatimeFlag = false
      default: break  // relatime, norelatime: MS_RELATIME is the default anyway
      }
    }
    self.init(
      noatime: noatimeFlag && !strictatimeFlag, nodiratime: nodiratimeFlag,
      relatime: !noatimeFlag && !strictatimeFlag)
  }

  /// From the per-mount options of a /proc/self/mountinfo line (field 6):
  /// `noatime`, `relatime`, `nodiratime`; strictatime shows neither. A
  /// read-only mount never moves atime (touch_atime() cannot get write
  /// access to it), so `ro` reads as noatime.
  public init(mountinfoOptions: String) {
    let words = Set(mountinfoOptions.split(separator: ","))
    self.init(
      noatime: words.contains("noatime") || words.contains("ro"),
      nodiratime: words.contains("nodiratime"), relatime: words.contains("relatime"))
  }

  /// The words mountinfo shows for these flags ("strictatime" for none).
  public var description: String {
    var words: [String] = []
    if noatime { words.append("noatime") }
    if nodiratime { words.append("nodiratime") }
    if relatime { words.append("relatime") }
    return words.isEmpty ? "strictatime" : words.joined(separator: ",")
  }

  var rawValue: UInt8 {
    (noatime ? 1 : 0) | (nodiratime ? 2 : 0) | (relatime ? 4 : 0)
  }

  init(rawValue: UInt8) {
    self.init(
      noatime: rawValue & 1 != 0, nodiratime: rawValue & 2 != 0, relatime: rawValue & 4 != 0)
  }

  /// Like atime_needs_update(): false on a read-only superblock, under
  /// noatime, for a directory under nodiratime, when relatime says no, or
  /// when atime is already `now`. Caller holds the inode's lock.
  public func needsUpdateLocked(_ inode: Inode, now: Timestamp) -> Bool {
    if inode.sb.readOnly || noatime { return false }
    if inode.attributeFlags.contains(.noAtime) { return false }  // chattr +A: IS_NOATIME
    if nodiratime, inode.isDirectory { return false }
    if relatime, !AtimePolicy.relatimeNeedsUpdateLocked(inode, now: now) { return false }
    return inode.atime != now
  }

  /// Like relatime_need_update(): atime not newer than mtime or ctime, or
  /// at least a day old.
  static func relatimeNeedsUpdateLocked(_ inode: Inode, now: Timestamp) -> Bool {
    inode.atime <= inode.mtime || inode.atime <= inode.ctime
      || now.sec - inode.atime.sec >= 24 * 60 * 60
  }
}

extension SuperBlock {
  /// The atime flags in force for this superblock's inodes.
  public var atimePolicy: AtimePolicy {
    get { AtimePolicy(rawValue: atimeFlags.load(ordering: .relaxed)) }
    set { atimeFlags.store(newValue.rawValue, ordering: .relaxed) }
  }
}

extension Inode {
  /// Like touch_atime(): moves atime to now if the superblock's policy asks
  /// for it. Caller holds `lock`. File systems call it where the kernel's
  /// generic code calls file_accessed() (reads, readlink); the VFS calls it
  /// for readdir, as iterate_dir() does.
  public func touchAtimeLocked(_ now: Timestamp = .now) {
    if sb.atimePolicy.needsUpdateLocked(self, now: now) { atime = now }
  }

  /// Whether a read now would move atime: the VFS asks at open, so that the
  /// kernel does not serve such a read from its cache without telling us.
  func atimeWouldUpdate() -> Bool {
    lock.withLock { sb.atimePolicy.needsUpdateLocked(self, now: .now) }
  }
}
