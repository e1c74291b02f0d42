/// A directory entry in the dcache: a name under a parent directory, and the
/// inode it names, or none (a negative dentry: "this name does not exist").
///
/// Like `struct dentry`, but keyed by the parent's inode number rather than a
/// pointer to the parent dentry: FUSE names parents by node id, and memfs
/// directories hold the truth, so the dcache is only a cache above them.
///
/// All fields are guarded by the owning `Dcache`'s lock.
public final class Dentry: @unchecked Sendable {
  /// The inode number of the directory holding the name (d_parent).
  public let parentIno: UInt64
  /// The name (d_name).
  public let name: FileName
  let hashValue_: Int
  /// The inode named, or nil for a negative dentry.
  public internal(set) var inode: Inode?
  /// Pinned dentries (superblock roots) are never on the LRU and never evicted.
  public internal(set) var pinned: Bool

  // Hash chain (d_hash) and LRU list (d_lru), intrusive as in the kernel.
  var hashNext: Dentry?
  var lruNext: Dentry?
  unowned(unsafe) var lruPrev: Dentry?
  var onLRU = false

  package init(parentIno: UInt64, name: FileName, hash: Int, inode: Inode?, pinned: Bool) {
    self.parentIno = parentIno
    self.name = name
    self.hashValue_ = hash
    self.inode = inode
    self.pinned = pinned
  }

  /// Whether the name is known not to exist (no inode).
  public var isNegative: Bool { inode == nil }
}
