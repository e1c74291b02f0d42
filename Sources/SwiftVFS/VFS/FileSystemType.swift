/// A kind of file system, like `struct file_system_type`: a name and a way to
/// make a superblock from mount options (the kernel's ->get_tree / mount).
///
/// A type is `Sendable`: the VFS keeps it in its registry and calls `mount`
/// from whichever thread mounts.
public protocol FileSystemType: AnyObject, Sendable {
  /// The name `mount -t` and /proc/filesystems show.
  var name: String { get }
  /// Whether every superblock of this type is read-only, whatever the mount
  /// options (like a kernel file system that only mounts `ro`). The VFS then
  /// answers EROFS to every change (write opens, setattr, create, unlink,
  /// rename, xattrs ...) before any operation is called. Default: false (then
  /// the `ro` option alone decides).
  var readOnly: Bool { get }
  /// Makes a new superblock with its root inode set. Inodes may be made in
  /// any order: the root need not be the first (the FUSE bridge shows it as
  /// FUSE's root whatever its number).
  func mount(_ context: MountContext) throws(Errno) -> SuperBlock
}

extension FileSystemType {
  public var readOnly: Bool { false }
}

/// What a file system type gets to build a superblock with (like fs_context).
public struct MountContext: Sendable {
  /// The options of the mount (`-o`).
  public let options: MountOptions
  /// Where the new superblock takes its inode numbers (one source per VFS).
  public let inodeNumbers: InodeNumbers
  /// The id the new superblock takes (s_dev).
  public let superBlockID: Int
  /// The VFS being mounted into, for file systems that show its state (/proc).
  public unowned let vfs: VFS
  /// Who mounts: owner of the new root unless the options say otherwise.
  public let cred: Cred

  /// What mount(8) names as the source (`source=` in the options): memfs
  /// ignores it; a disk file system takes its image from it.
  public var source: String? { options.value("source") }
}

/// Mount options as `-o a=b,c` gives them, in order, keys lowercased.
public struct MountOptions: Sendable, CustomStringConvertible {
  /// The options in order, each a key and a value (nil for a flag).
  public private(set) var items: [(key: String, value: String?)] = []

  /// No options.
  public init() {}

  /// Parses `a=b,c,d=e`; an empty item or key is EINVAL.
  public init(parsing text: String) throws(Errno) {
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      let key = String(kv[0])
      guard !key.isEmpty else { throw .EINVAL }
      set(key, kv.count > 1 ? String(kv[1]) : nil)
    }
  }

  /// Sets `key` (a later set replaces an earlier one); a nil value is a flag.
  public mutating func set(_ key: String, _ value: String?) {
    items.removeAll { $0.key == key }
    items.append((key, value))
  }

  /// The value of `key`, or nil if it is absent or a flag.
  public func value(_ key: String) -> String? {
    items.last { $0.key == key }?.value
  }

  /// Whether `key` was given as a flag (no `=`).
  public func flag(_ key: String) -> Bool {
    items.contains { $0.key == key && $0.value == nil }
  }

  /// The options as `-o` takes them: "a=b,c".
  public var description: String {
    items.map { item in item.value.map { "\(item.key)=\($0)" } ?? item.key }
      .joined(separator: ",")
  }
}

/// The registered file system types, like the kernel's `file_systems` list
/// (register_filesystem / unregister_filesystem / get_fs_type).
public final class FileSystemRegistry: @unchecked Sendable {
  private let lock = Lock()
  private var types: [FileSystemType] = []

  /// An empty registry.
  public init() {}

  /// Like register_filesystem(): EBUSY if a type of that name is registered.
  public func register(_ type: FileSystemType) throws(Errno) {
    try lock.withLock { () throws(Errno) in
      guard !types.contains(where: { $0.name == type.name }) else { throw .EBUSY }
      types.append(type)
    }
  }

  /// Like unregister_filesystem(): EINVAL if it is not registered.
  public func unregister(name: String) throws(Errno) {
    try lock.withLock { () throws(Errno) in
      guard let i = types.firstIndex(where: { $0.name == name }) else { throw .EINVAL }
      types.remove(at: i)
    }
  }

  /// Like get_fs_type(): ENODEV for an unknown name, as mount(2) answers.
  public func type(named name: String) throws(Errno) -> FileSystemType {
    guard let type = lock.withLock({ types.first { $0.name == name } }) else { throw .ENODEV }
    return type
  }

  /// The registered types' names, as /proc/filesystems lists them.
  public var names: [String] { lock.withLock { types.map(\.name) } }
}

extension MountOptions {
  /// A size in bytes: a number with an optional k, m, g or t suffix, or a
  /// percentage of `total` (tmpfs's `size=`). EINVAL if it does not parse.
  public func size(_ key: String, percentOf total: UInt64) throws(Errno) -> UInt64? {
    guard let text = value(key) else { return nil }
    if text.hasSuffix("%") {
      guard let pct = UInt64(text.dropLast()), pct <= 100 else { throw .EINVAL }
      return total * pct / 100  // as shmem: multiply first, so nothing is lost
    }
    return try MountOptions.scaled(text)
  }

  /// A count with an optional k, m or g suffix (tmpfs's `nr_inodes=`).
  public func count(_ key: String) throws(Errno) -> UInt64? {
    guard let text = value(key) else { return nil }
    return try MountOptions.scaled(text)
  }

  /// An octal number (`mode=`).
  public func octal(_ key: String) throws(Errno) -> UInt32? {
    guard let text = value(key) else { return nil }
    guard let n = UInt32(text, radix: 8) else { throw .EINVAL }
    return n
  }

  /// A uid or gid (`uid=`, `gid=`): decimal, below 2^32 - 1.
  public func id(_ key: String) throws(Errno) -> UInt32? {
    guard let text = value(key) else { return nil }
    guard let n = UInt32(text), n != UInt32.max else { throw .EINVAL }
    return n
  }

  /// A number of seconds (`entry_timeout=`): decimal, not negative.
  public func seconds(_ key: String) throws(Errno) -> Double? {
    guard let text = value(key) else { return nil }
    guard let n = Double(text), n >= 0, n.isFinite else { throw .EINVAL }
    return n
  }

  static func scaled(_ text: String) throws(Errno) -> UInt64 {
    guard let last = text.last else { throw .EINVAL }
    let shifts: [Character: UInt64] = [
      "k": 10, "K": 10, "m": 20, "M": 20, "g": 30, "G": 30, "t": 40, "T": 40,
    ]
    let (digits, shift) = shifts[last].map { (text.dropLast(), $0) } ?? (Substring(text), 0)
    guard let n = UInt64(digits) else { throw .EINVAL }
    let (v, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
    guard !overflow else { throw .EINVAL }
    return v
  }
}
