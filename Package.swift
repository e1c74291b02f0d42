// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "SwiftVFS",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "SwiftVFS", targets: ["SwiftVFS"]),
    // withMount(vfs) { path in ... } for the tests of a package built on SwiftVFS.
    .library(name: "SwiftVFSTesting", targets: ["SwiftVFSTesting"]),
    .executable(name: "vfsmount", targets: ["vfsmount"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    // `swift package generate-documentation` (scripts/docs); a plugin only,
    // nothing of it is linked into SwiftVFS.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
  ],
  targets: [
    // libfuse3 through pkg-config; the shim header sets FUSE_USE_VERSION and
    // wraps the few calls that are macros Swift cannot import.
    .systemLibrary(
      name: "CFuse",
      pkgConfig: "fuse3",
      providers: [.apt(["libfuse3-dev"])]
    ),
    // liburing (liburing-dev) for the native engine's FUSE-over-io_uring
    // transport, behind a small C wrapper that also holds the 7.42 ring ABI
    // Debian's <linux/fuse.h> lacks.
    .target(
      name: "CUring",
      path: "Sources/CUring",
      linkerSettings: [.linkedLibrary("uring")]
    ),
    // One target per layer (DESIGN.md), so that an import that crosses a
    // layer the wrong way fails to build; `SwiftVFS` is the umbrella.
    .target(
      name: "SwiftVFSCore",
      path: "Sources/SwiftVFS/VFS"
    ),
    .target(
      name: "SwiftVFSFileSystems",
      dependencies: ["SwiftVFSCore"],
      path: "Sources/SwiftVFS/FileSystems"
    ),
    .target(
      name: "SwiftVFSDevices",
      dependencies: ["SwiftVFSCore", "SwiftVFSFileSystems"],
      path: "Sources/SwiftVFS/Devices"
    ),
    // The block layer (like the kernel's block/): block devices, bios, the
    // image-file and RAM-disk backends, the registry of block majors.
    .target(
      name: "SwiftVFSBlock",
      dependencies: ["SwiftVFSCore"],
      path: "Sources/SwiftVFS/Block"
    ),
    // ext2, written against the public API of the core and the block layer
    // only, as a file system from outside the package would be.
    .target(
      name: "SwiftVFSExt2",
      dependencies: ["SwiftVFSCore", "SwiftVFSBlock"],
      path: "Sources/SwiftVFS/Ext2"
    ),
    .target(
      name: "SwiftVFSFuse",
      dependencies: [
        "SwiftVFSCore", "CFuse", "CUring", .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/SwiftVFS/Fuse"
    ),
    .target(
      name: "SwiftVFS",
      dependencies: [
        "SwiftVFSCore", "SwiftVFSFileSystems", "SwiftVFSDevices", "SwiftVFSFuse", "SwiftVFSBlock",
        "SwiftVFSExt2",
      ],
      path: "Sources/SwiftVFS/Umbrella"
    ),
    .target(
      name: "SwiftVFSTesting",
      dependencies: ["SwiftVFS"]
    ),
    .executableTarget(
      name: "vfsmount",
      dependencies: [
        "SwiftVFS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // The benchmark: the same workloads on vfsmount and on a kernel tmpfs,
    // with ratios, JSON and a chart; plus micro benchmarks of the VFS core.
    .executableTarget(
      name: "vfsbench",
      dependencies: [
        "SwiftVFS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // The smallest file system written with SwiftVFS (README: "Write your own").
    .executableTarget(
      name: "hellofs",
      dependencies: ["SwiftVFS"],
      path: "Examples/hellofs"
    ),
    // A JSON document as a tree, with a writable notes.txt and a counter
    // device, in fewer than 100 lines (README: "Building blocks").
    .executableTarget(
      name: "jsontree",
      dependencies: ["SwiftVFS"],
      path: "Examples/jsontree",
      exclude: ["sample.json"]
    ),
    // A passthrough file system over a host directory (PathFileSystem).
    .executableTarget(
      name: "passthrough",
      dependencies: ["SwiftVFS"],
      path: "Examples/passthrough"
    ),
    // The char-device homework: a ring buffer driver with read, write,
    // ioctl and poll, registered with a dynamic major under /dev.
    .executableTarget(
      name: "chardev",
      dependencies: ["SwiftVFS"],
      path: "Examples/chardev"
    ),
    // A file system with real latency (README: "Async file systems"): reading
    // `slow` waits in the backend while everything else answers at once.
    .executableTarget(
      name: "slowfs",
      dependencies: ["SwiftVFS"],
      path: "Examples/slowfs"
    ),
    // Runs a list of file operations as another uid/gid and prints one errno
    // name per operation: the mount tests use it for permission cases.
    .executableTarget(name: "vfsprobe"),
    .testTarget(
      name: "SwiftVFSTests",
      dependencies: [
        "SwiftVFS", "SwiftVFSCore", "SwiftVFSFileSystems", "SwiftVFSDevices", "SwiftVFSFuse",
        "SwiftVFSBlock", "SwiftVFSExt2",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "MountTests",
      dependencies: [
        "vfsmount", "vfsprobe", "hellofs", "jsontree", "passthrough", "chardev", "slowfs",
        "SwiftVFS", "SwiftVFSCore", "SwiftVFSFileSystems", "SwiftVFSDevices", "SwiftVFSFuse",
        "SwiftVFSTesting",
      ]
    ),
  ]
)
