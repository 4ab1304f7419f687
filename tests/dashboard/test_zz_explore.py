import os, subprocess
def test_explore(lakehouse):
    print(lakehouse.root)
    print(subprocess.run(["find", str(lakehouse.root / "mlartifacts"), "-maxdepth", "8"], capture_output=True, text=True).stdout[:6000])
    open("/tmp/h8/root.txt","w").write(str(lakehouse.root))
