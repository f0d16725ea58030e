"""kvmsentry: an application kernel in Python behind a KVM guest.

The KVM binding is a cffi API-mode extension built from cdefs/.
"""
from setuptools import find_packages, setup

setup(
    name="kvmsentry",
    version="0.1.0",
    description="Run untrusted Linux x86-64 programs behind a Python "
                "application kernel in a KVM guest (gVisor-style)",
    packages=find_packages(include=["kvmsentry", "kvmsentry.*"]),
    package_data={"kvmsentry.platform.kvm": ["stub.bin"],
                  "kvmsentry.platform.systrap": ["stub.elf"], "kvmsentry.mm": ["vdso.elf"]},
    python_requires=">=3.9",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "ioctl-opt>=1.3", "capstone>=5.0"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
    cffi_modules=["cdefs/build.py:kvm", "cdefs/build.py:sandbox",
                  "cdefs/build.py:systrap"],
    # A plain script, not a console_scripts entry point (bin/kvmsentry says why).
    scripts=["bin/kvmsentry"],
)
