import SwiftVFSCore
import SwiftVFSDevices
import SwiftVFSFileSystems

/// The tree `vfsmount` shows: memfs at `/`, and the special file systems
/// mounted on it, as a booting kernel mounts /dev and /proc.
extension VFS {
  /// Registers the built-in file system types and mounts them.
  /// `options` are the root's (memfs) mount options; with `bare` the root
  /// stays empty, like a tmpfs: no /dev and /proc are mounted in it.
  public static func standard(options: MountOptions, cred: Cred = .root) throws(Errno) -> VFS {
    let vfs = VFS(
      dcacheCapacity: try options.count("dcache_max").map { Int($0) } ?? Dcache.defaultCapacity)
    try vfs.filesystems.register(MemfsType())
    try vfs.mount("memfs", at: "/", options: options, cred: cred)
    if options.flag("bare") { return vfs }
    try vfs.mountDevAndProc(cred: cred)
    return vfs
  }

  /// Mounts devtmpfs at `/dev`, with the built-in char devices (null, zero,
  /// full, urandom, scull, log) whose nodes appear in it, and proc at
  /// `/proc`, over whatever root file system is mounted at `/`.
  ///
  /// The root's `mkdir` is not needed: if the root does not hold `dev` or
  /// `proc`, the VFS shows the mount point itself (see
  /// `mount(_:at:options:cred:createMountPoint:mountPointMode:synthesizeMountPoint:)`),
  /// so a read-only or custom root gets them too. Call it after mounting
  /// `/` and before registering your own devices with `devtmpfsCreateNode`.
  /// Registers the `devtmpfs` and `proc` types if they are not yet.
  public func mountDevAndProc(cred: Cred = .root) throws(Errno) {
    if (try? filesystems.type(named: "devtmpfs")) == nil {
      try filesystems.register(DevtmpfsType())
    }
    try mount(
      "devtmpfs", at: "/dev", options: MountOptions(), cred: cred, synthesizeMountPoint: true)
    try BuiltinDevices.register(in: self)
    // /proc: the VFS's own state, as files.
    if (try? filesystems.type(named: "proc")) == nil {
      try filesystems.register(ProcfsType())
    }
    try mount("proc", at: "/proc", options: MountOptions(), cred: cred, synthesizeMountPoint: true)
  }
}
