import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// `mount -o remount,noatime DIR`: mount(8) runs the helper again, with
/// `remount` among the mount's present options and the new ones (`vfsmount
/// none DIR -o rw,nosuid,relatime,remount,noatime,user_id=0,...`). A kernel
/// file system would change the mount's flags: so does this, with one
/// mount(2), and exits; the daemon that serves the mount sees the new flags
/// in the mount table (`MountWatch`). Options of the file system itself
/// (size=, mode=...) cannot change on a live mount: an error.
enum Remount {
  /// The per-mount flags a remount can set, and the MS_* bit each sets or clears.
  private static let flags: [String: (flag: Int, on: Bool)] = [
    "ro": (MS_RDONLY, true), "rw": (MS_RDONLY, false),
    "nosuid": (MS_NOSUID, true), "suid": (MS_NOSUID, false),
    "nodev": (MS_NODEV, true), "dev": (MS_NODEV, false),
    "noexec": (MS_NOEXEC, true), "exec": (MS_NOEXEC, false),
    "noatime": (MS_NOATIME, true), "atime": (MS_NOATIME, false),
    "nodiratime": (MS_NODIRATIME, true), "diratime": (MS_NODIRATIME, false),
    "relatime": (MS_RELATIME, true), "norelatime": (MS_RELATIME, false),
    "strictatime": (MS_STRICTATIME, true), "nostrictatime": (MS_STRICTATIME, false),
    "nosymfollow": (MS_NOSYMFOLLOW, true), "symfollow": (MS_NOSYMFOLLOW, false),
  ]
  /// What mountinfo shows of the FUSE mount and mount(8) hands back, or
  /// what means nothing here: taken and left as they are.
  private static let unchanged: Set = [
    "remount", "user_id", "group_id", "default_permissions", "allow_other", "max_read",
    "blksize", "fsname", "subtype", "defaults", "_netdev", "lazytime", "nolazytime", "sync",
    "async", "dirsync",
  ]

  static func isRemount(_ options: [String]) -> Bool {
    options.contains { group in group.split(separator: ",").contains("remount") }
  }

  static func run(options: [String], mountPoint: String) throws {
    var bits = MS_REMOUNT | MS_BIND
    for group in options {
      for item in group.split(separator: ",") {
        let key = String(item.split(separator: "=", maxSplits: 1)[0])
        if let (flag, on) = flags[key] {
          bits = on ? bits | flag : bits & ~flag
        } else if !unchanged.contains(key) {
          throw MountFailure("option \(key) cannot change on a remount")
        }
      }
    }
    guard Glibc.mount(nil, mountPoint, nil, UInt(bits), nil) == 0 else {
      throw MountFailure("remount \(mountPoint): \(String(cString: strerror(errno)))")
    }
  }
}
