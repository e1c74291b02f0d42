// A text report of a mounted ext2's superblock in the layout of
// `dumpe2fs -h` (e2fsprogs' lib/e2p/ls.c, list_super2()): the same labels,
// padded to the same column, for the lines it shares; "Block groups:" is
// added (dumpe2fs prints the groups only without -h). Free counts are the
// sums over the group descriptors, as statfs reports them.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

extension Ext2FileSystemInfo {
  /// The report: one "Label:   value" line per field.
  func report() -> String {
    let d = superBlock
    var lines: [(String, String)] = []
    func add(_ label: String, _ value: String) { lines.append((label, value)) }
    add("Filesystem volume name", d.volumeName.isEmpty ? "<none>" : text(d.volumeName))
    add("Last mounted on", d.lastMounted.isEmpty ? "<not available>" : text(d.lastMounted))
    add("Filesystem UUID", Ext2FileSystemInfo.uuidText(d.uuid))
    add("Filesystem magic number", "0xEF53")
    add(
      "Filesystem revision #",
      "\(d.revisionLevel) (\(d.revisionLevel == 0 ? "original" : "dynamic"))")
    let features = Ext2Features.names(
      compat: d.featureCompat, incompat: d.featureIncompat, roCompat: d.featureROCompat)
    add("Filesystem features", features.isEmpty ? "(none)" : features.joined(separator: " "))
    var defaults: [String] = []
    if d.defaultMountOptions & Ext2Features.defaultMountXattrUser != 0 {
      defaults.append("user_xattr")
    }
    if d.defaultMountOptions & Ext2Features.defaultMountACL != 0 { defaults.append("acl") }
    add("Default mount options", defaults.isEmpty ? "(none)" : defaults.joined(separator: " "))
    // The live state: a read-write mount has cleared EXT2_VALID_FS.
    let live = allocLock.withLock { self.state }
    var state = live & 1 != 0 ? "clean" : "not clean"
    if live & 2 != 0 { state += " with errors" }
    add("Filesystem state", state)
    let errors = [1: "Continue", 2: "Remount read-only", 3: "Panic"]
    add("Errors behavior", errors[Int(d.errors)] ?? "Unknown (continue)")
    let systems = [0: "Linux", 1: "Hurd", 2: "Masix", 3: "FreeBSD", 4: "Lites"]
    add("Filesystem OS type", systems[Int(d.creatorOS)] ?? "(unknown os)")
    add("Inode count", "\(d.inodesCount)")
    add("Block count", "\(d.blocksCount)")
    add("Reserved block count", "\(d.reservedBlocksCount)")
    add("Free blocks", "\(groups.reduce(0) { $0 + Int($1.freeBlocksCount) })")
    add("Free inodes", "\(groups.reduce(0) { $0 + Int($1.freeInodesCount) })")
    add("First block", "\(d.firstDataBlock)")
    add("Block size", "\(d.blockSize)")
    add("Fragment size", "\(1024 << Int(min(d.logFragSize, 16)))")
    add("Block groups", "\(d.groupCount)")
    add("Blocks per group", "\(d.blocksPerGroup)")
    add("Fragments per group", "\(d.fragsPerGroup)")
    add("Inodes per group", "\(d.inodesPerGroup)")
    add("Inode blocks per group", "\(d.inodeTableBlocksPerGroup)")
    add("Last mount time", Ext2FileSystemInfo.timeText(d.mountTime))
    add("Last write time", Ext2FileSystemInfo.timeText(d.writeTime))
    add("Mount count", "\(d.mountCount)")
    add("Maximum mount count", "\(d.maxMountCount)")
    add("Last checked", Ext2FileSystemInfo.timeText(d.lastCheck))
    add("First inode", "\(d.firstIno)")
    add("Inode size", "\(d.inodeSize)")
    return lines.map { label, value in
      let head = label + ":"
      return head + String(repeating: " ", count: max(1, 26 - head.count)) + value
    }.joined(separator: "\n") + "\n"
  }

  private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

  /// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", or "<none>" for all zeros.
  static func uuidText(_ uuid: [UInt8]) -> String {
    guard uuid.count == 16, uuid.contains(where: { $0 != 0 }) else { return "<none>" }
    let hex = uuid.map { byte in
      let s = String(byte, radix: 16)
      return s.count == 1 ? "0" + s : s
    }
    return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { hex[$0].joined() }.joined(separator: "-")
  }

  /// A time as ctime(3) prints it (in UTC), or "n/a" for 0.
  static func timeText(_ seconds: UInt32) -> String {
    guard seconds != 0 else { return "n/a" }
    var t = time_t(seconds)
    var parts = tm()
    gmtime_r(&t, &parts)
    var buffer = [CChar](repeating: 0, count: 64)
    let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &parts)
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
