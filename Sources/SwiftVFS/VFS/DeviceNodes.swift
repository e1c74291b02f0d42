/// A device node found in the tree, for the /proc table of device nodes.
public struct DeviceNode: Sendable, Equatable {
  /// Absolute path inside the mount, such as "/dev/null".
  public let path: String
  /// `.characterDevice` or `.blockDevice`.
  public let type: FileType
  /// The node's device number.
  public let rdev: DevT
  /// The name of the cdev that serves `rdev` now, or nil: no driver (the
  /// node shows as a char node, and open() never reaches the VFS, which
  /// would answer ENXIO), and always nil for block nodes.
  public let driver: String?

  /// A row of the device node report.
  public init(path: String, type: FileType, rdev: DevT, driver: String?) {
    self.path = path
    self.type = type
    self.rdev = rdev
    self.driver = driver
  }

  /// "c" or "b", as `ls -l` and mknod(1) write the type.
  public var typeLetter: String { type == .blockDevice ? "b" : "c" }
}

extension VFS {
  /// Every char and block node in the tree, depth first from `/`, entries in
  /// directory order, crossing into mounted superblocks as a path walk does.
  /// Superblocks whose type name is in `skipping` are not entered (file
  /// systems of generated files, such as /proc, hold no device nodes).
  ///
  /// Each directory is listed through its own `iterate` (readdir), one at a
  /// time: no lock is held while a subdirectory is walked, so the tree may
  /// change meanwhile and the answer is a snapshot only per directory.
  public func deviceNodes(skipping: Set<String> = ["proc", "procfs"]) -> [DeviceNode] {
    deviceNodeEntries(skipping: skipping).map { entry in
      let rdev = entry.inode.lock.withLock { entry.inode.rdev }
      let driver = entry.inode.type == .characterDevice ? chrdevs.cdev(for: rdev)?.name : nil
      return DeviceNode(path: entry.path, type: entry.inode.type, rdev: rdev, driver: driver)
    }
  }

  /// The walk behind `deviceNodes`: each name of a char or block node, with
  /// the directory that holds it (a hard-linked node comes once per name).
  func deviceNodeEntries(skipping: Set<String> = ["proc", "procfs"])
    -> [(path: String, parent: Inode, name: FileName, inode: Inode)]
  {
    var found: [(path: String, parent: Inode, name: FileName, inode: Inode)] = []
    var pending: [(path: String, dir: Inode)] = [("", root)]
    var seen: Set<ObjectIdentifier> = []
    while let (path, dir) = pending.popLast() {
      guard seen.insert(ObjectIdentifier(dir)).inserted,
        !skipping.contains(dir.sb.fsType.name)
      else { continue }
      var subdirs: [(String, Inode)] = []
      for (name, inode) in listDirectory(dir) {
        let child = path + "/" + name.description
        switch inode.type {
        case .directory:
          subdirs.append((child, inode))
        case .characterDevice, .blockDevice:
          found.append((child, dir, name, inode))
        default:
          break
        }
      }
      pending.append(contentsOf: subdirs.reversed())
    }
    return found
  }

  /// The entries of one directory but "." and "..", as readdir gives them
  /// (mount points show the mounted root). Errors end the listing early.
  func listDirectory(_ dir: Inode) -> [(FileName, Inode)] {
    let file = File(
      inode: dir, flags: OpenFlags.directory, cred: .root, fileOps: dir.fileOps)
    do {
      try file.fileOps.open(dir, file)
    } catch {
      return []
    }
    defer { file.fileOps.release(dir, file) }
    var entries: [(FileName, Inode)] = []
    var cookie: Int64 = 0
    while true {
      var added = 0
      do {
        try readdir(file, from: cookie) { entry in
          cookie = entry.offset
          if let inode = entry.inode, !entry.name.isDotOrDotDot {
            entries.append((entry.name, inode))
          }
          added += 1
          return added < 256
        }
      } catch {
        break
      }
      if added < 256 { break }
    }
    return entries
  }
}
