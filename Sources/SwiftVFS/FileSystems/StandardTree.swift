/// The tree `vfsmount` shows: memfs at `/`, and the special file systems
/// mounted on directories of it, as a booting kernel mounts /dev and /proc.
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
    // /dev: devtmpfs, then the built-in char devices, whose nodes appear in it.
    try vfs.filesystems.register(DevtmpfsType())
    try vfs.mount(
      "devtmpfs", at: "/dev", options: MountOptions(), cred: cred, createMountPoint: true)
    try BuiltinDevices.register(in: vfs)
    // /proc: the VFS's own state, as files.
    try vfs.filesystems.register(ProcfsType())
    try vfs.mount(
      "proc", at: "/proc", options: MountOptions(), cred: cred, createMountPoint: true,
      mountPointMode: 0o555)
    return vfs
  }
}
