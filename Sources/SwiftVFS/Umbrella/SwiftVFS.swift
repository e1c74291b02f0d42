// SwiftVFS, the umbrella: one import for everything a file system author or
// an embedding program needs. The layers are separate modules, so that the
// compiler enforces the arrows of DESIGN.md (each layer calls only the one
// below; the core imports no FUSE type):
//
//   SwiftVFSCore          the kernel objects (Sources/SwiftVFS/VFS)
//   SwiftVFSFileSystems   memfs, devtmpfs, proc, and the building blocks
//   SwiftVFSDevices       the char drivers (mem, scull, log)
//   SwiftVFSFuse          the FUSE bridge, the session and the mount handle
//   SwiftVFSBlock         block devices, bios, image-file and RAM-disk backends
//   SwiftVFSExt2          ext2 on an image, on the public API of the two above
//
// This module adds the standard tree (memfs with /dev and /proc) on top.

@_exported import SwiftVFSBlock
@_exported import SwiftVFSCore
@_exported import SwiftVFSDevices
@_exported import SwiftVFSExt2
@_exported import SwiftVFSFileSystems
@_exported import SwiftVFSFuse
