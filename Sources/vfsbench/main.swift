print("vfsbench: not yet")
