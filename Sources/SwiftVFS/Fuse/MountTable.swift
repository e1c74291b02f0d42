import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The host's mount table, as /proc/self/mountinfo lists it. Read without
/// touching any mount (a stat of a FUSE mount point would ask its daemon).
public enum MountTable {
  /// One line of /proc/self/mountinfo.
  public struct Entry: Sendable, Equatable {
    /// "MAJ:MIN" of the mounted superblock (field 3); its bdi is named so.
    public let device: String
    /// The mount point, unescaped (field 5; mountinfo writes " " as \040).
    public let mountPoint: String
    /// The per-mount options (field 6): ro or rw, nosuid, nodev, noexec,
    /// and the atime flags (noatime, nodiratime, relatime).
    public var mountOptions: String = ""
    /// The mount's ID (field 1): unique while it is mounted, kept by a remount.
    public var mountID: String = ""
  }

  /// The mounts of this process's namespace; empty if mountinfo cannot be read.
  public static func entries() -> [Entry] {
    guard let f = fopen("/proc/self/mountinfo", "r") else { return [] }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    var entries: [Entry] = []
    while getline(&line, &capacity, f) > 0 {
      let fields = String(cString: line!).split(separator: " ")
      if fields.count > 5 {
        entries.append(
          Entry(
            device: String(fields[2]), mountPoint: unescape(fields[4]),
            mountOptions: String(fields[5]), mountID: String(fields[0])))
      }
    }
    return entries
  }

  /// Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134).
  static func unescape(_ s: Substring) -> String {
    var out = [UInt8]()
    let bytes = Array(s.utf8)
    var i = 0
    while i < bytes.count {
      if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
        let v = UInt8(String(decoding: bytes[i + 1...i + 3], as: UTF8.self), radix: 8)
      {
        out.append(v)
        i += 4
      } else {
        out.append(bytes[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
