import SwiftVFSCore
import Synchronization

/// FUSE node ids and VFS inode numbers, mapped in one place.
///
/// FUSE names the mount's root FUSE_ROOT_ID (1), whatever number the root
/// file system gave its root inode: a `FileSystemType.mount` may make other
/// inodes before the root. So the two numbers trade places: node id 1 is the
/// root inode, and the inode that really has number 1 (if any) gets the
/// root's number as its node id. Every other number is its own node id. The
/// map is its own inverse (a bijection), so the kernel never sees two inodes
/// under one id. Every node id the bridge takes in or hands out goes through
/// here; numbers the kernel shows as `st_ino` stay the inodes' own.
package final class FuseNodeIDs: @unchecked Sendable {
  /// FUSE_ROOT_ID.
  static let rootID: UInt64 = 1

  private weak var vfs: VFS?
  /// The root inode's number once known (0 before): a VFS's root never
  /// changes once mounted, so one relaxed load serves each request.
  private let knownRootIno = Atomic<UInt64>(0)

  init(vfs: VFS) { self.vfs = vfs }

  /// The number of the VFS root inode (FUSE_ROOT_ID until one is mounted).
  var rootIno: UInt64 {
    let known = knownRootIno.load(ordering: .relaxed)
    if known != 0 { return known }
    guard let ino = vfs?.rootSuperBlock?.root.ino else { return FuseNodeIDs.rootID }
    knownRootIno.store(ino, ordering: .relaxed)
    return ino
  }

  /// The inode number a node id from the kernel names.
  func ino(ofNode nodeID: UInt64) -> UInt64 {
    FuseNodeIDs.swapRoot(nodeID, rootIno: rootIno)
  }

  /// The node id the kernel knows an inode number by.
  package func nodeID(ofIno ino: UInt64) -> UInt64 {
    FuseNodeIDs.swapRoot(ino, rootIno: rootIno)
  }

  /// Swaps FUSE_ROOT_ID and `rootIno`, leaves every other number (0, "no
  /// node", included) alone. Applied twice it gives the number back.
  package static func swapRoot(_ number: UInt64, rootIno: UInt64) -> UInt64 {
    if number == rootID { return rootIno }
    if number == rootIno { return rootID }
    return number
  }
}
