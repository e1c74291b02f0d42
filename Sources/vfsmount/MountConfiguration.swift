import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// The `-o` options, sorted into what the kernel mount takes, what the file
/// system takes, and what the bridge takes. Every value is checked here, so a
/// bad one is a one-line error before anything is mounted.
struct MountConfiguration {
  var fileSystemOptions = MountOptions()
  var kernelOptions = ["default_permissions"]
  /// rw, ro, nosuid, noatime... (GenericMountOptions).
  var generic = GenericMountOptions()
  /// What `df` and findmnt show as the source (fsname=, else the SOURCE
  /// argument, as a kernel mount shows its device) and the type (fuse.TYPE).
  var fsname: String?
  var subtype: String?
  var givenDefaultPermissions = false
  var entryTimeout = FuseBridge.Options().entryTimeout
  var attrTimeout = FuseBridge.Options().attrTimeout
  var busyPoll = FuseBridge.Options().busyPollMicroseconds
  var writebackCache = false
  var maxThreads = 16
  var maxIdleThreads = 8
  var libfuseLoop = false
  /// engine=native (the default: Sources/SwiftVFS/Fuse/Engine) or engine=libfuse.
  var engine = FuseSession.Engine.native
  /// transport=auto (the default), readwrite or uring, for engine=native.
  var transport = FuseSession.Transport.automatic

  static let fileSystemKeys: Set = [
    "size", "nr_inodes", "mode", "uid", "gid", "dcache_max", "cache_size",
  ]

  /// `source` is the SOURCE argument (memfs ignores it; an image file for a
  /// disk file system).
  init(options: [String], source: String? = nil) throws {
    for group in options {
      let parsed: MountOptions
      do {
        parsed = try MountOptions(parsing: group)
      } catch {
        throw MountFailure("bad mount options '\(group)'")
      }
      for (key, value) in parsed.items {
        try add(key, value)
      }
    }
    if let source { fileSystemOptions.set("source", source) }
    kernelOptions.append("fsname=" + Self.escaped(fsname ?? source ?? "vfsmount"))
    kernelOptions.append("subtype=" + Self.escaped(subtype ?? "vfsmount"))
    kernelOptions += generic.libfuseOptions
    if generic.readOnly { fileSystemOptions.set("ro", nil) }
  }

  /// fuse_opt's escapes, so a comma or backslash in a name stays in it.
  static func escaped(_ value: String) -> String {
    var out = ""
    for c in value {
      if c == "\\" || c == "," { out.append("\\") }
      out.append(c)
    }
    return out
  }

  private mutating func add(_ key: String, _ value: String?) throws {
    func bad() -> MountFailure { MountFailure("invalid value for option \(key): '\(value ?? "")'") }
    var single = MountOptions()
    single.set(key, value)
    switch key {
    case "size":
      guard value != nil, (try? single.size(key, percentOf: 100)) != nil else { throw bad() }
    case "nr_inodes", "dcache_max":
      guard value != nil, (try? single.count(key)) != nil else { throw bad() }
    case "cache_size":
      // The page cache's bound of a disk file system: N, Nk, Nm or Ng bytes.
      guard var text = value?.lowercased(), !text.isEmpty else { throw bad() }
      if let last = text.last, "kmg".contains(last) { text.removeLast() }
      guard !text.isEmpty, text.allSatisfy(\.isNumber), text.count <= 15 else { throw bad() }
    case "mode":
      guard value != nil, let m = try? single.octal(key), m <= 0o7777 else { throw bad() }
    case "uid", "gid":
      guard value != nil, (try? single.id(key)) != nil else { throw bad() }
    case "entry_timeout", "attr_timeout":
      guard value != nil, let s = (try? single.seconds(key)) ?? nil else { throw bad() }
      if key == "entry_timeout" { entryTimeout = s } else { attrTimeout = s }
      return
    case "busy_poll":
      // Microseconds, like net.core.busy_poll; 0 turns it off.
      guard let text = value, let n = Int(text), (0...1000).contains(n) else { throw bad() }
      busyPoll = n
      return
    case "max_threads", "max_idle_threads":
      guard let text = value, let n = Int(text), (1...1024).contains(n) else { throw bad() }
      if key == "max_threads" { maxThreads = n } else { maxIdleThreads = n }
      return
    case "allow_other", "default_permissions", "writeback_cache", "libfuse_mt", "bare":
      guard value == nil else { throw MountFailure("option \(key) takes no value") }
      if key == "writeback_cache" { writebackCache = true }
      if key == "libfuse_mt" { libfuseLoop = true }
      if key == "allow_other" { kernelOptions.append(key) }
      if key == "default_permissions" { givenDefaultPermissions = true }
      if key == "bare" { fileSystemOptions.set(key, nil) }
      return
    case "engine":
      guard let text = value, let chosen = FuseSession.Engine(rawValue: text) else { throw bad() }
      engine = chosen
      return
    case "transport":
      guard let text = value, let chosen = FuseSession.Transport(rawValue: text) else {
        throw bad()
      }
      transport = chosen
      return
    case "fsname", "subtype":
      guard let text = value, !text.isEmpty else { throw bad() }
      if key == "fsname" { fsname = text } else { subtype = text }
      return
    default:
      guard try generic.add(key, value) else {
        throw MountFailure("unknown mount option '\(key)'")
      }
      return
    }
    fileSystemOptions.set(key, value)
  }

  /// `/dev/fd/N` is a /dev/fuse descriptor that mount.fuse3 has mounted
  /// already (its drop_privileges option), with the options it was given:
  /// served as it is if they hold default_permissions, without which the
  /// kernel would check no mode on that mount.
  func checkMountPoint(_ path: String) throws -> String {
    if path.hasPrefix("/dev/fd/"), Int32(path.dropFirst(8)) != nil {
      guard givenDefaultPermissions else {
        throw MountFailure("with drop_privileges, give default_permissions too")
      }
      return path
    }
    return try MountConfiguration.checkMountPoint(path)
  }

  /// The mount point must exist, be a directory, and not be mounted already.
  static func checkMountPoint(_ path: String) throws -> String {
    var st = stat()
    guard stat(path, &st) == 0 else {
      throw MountFailure("mount point \(path): \(String(cString: strerror(errno)))")
    }
    guard st.st_mode & S_IFMT == S_IFDIR else {
      throw MountFailure("mount point \(path): ENOTDIR (not a directory)")
    }
    guard let resolved = realpath(path, nil) else {
      throw MountFailure("mount point \(path): \(String(cString: strerror(errno)))")
    }
    defer { free(resolved) }
    let absolute = String(cString: resolved)
    if MountTable.entries().contains(where: { $0.mountPoint == absolute }) {
      throw MountFailure("\(absolute) is already a mount point")
    }
    return absolute
  }
}
