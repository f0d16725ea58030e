#!/bin/busybox sh
# /init of the SVM test guest (tools/svm/image.py packs it with static
# busybox and the modules listed in /mod/*.list).
#
# The host's / arrives read-only over virtio 9p (tag hostroot) and becomes
# the root of the job through chroot, with tmpfs where programs write; the
# tag svmout is a host directory holding job.sh and receiving the output
# and the exit status. Kernel command-line words the kernel does not know
# reach init as environment variables: svm_npt (kvm_amd's npt parameter).
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
    echo "svm-guest: $*"
    [ -d /out ] && echo "svm-guest: $*" >> /out/harness-error
    poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

for m in $(cat /mod/boot.list); do
    insmod /mod/$m || fail "insmod $m"
done
mkdir -p /out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host \
    || fail "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 svmout /out || fail "mount svmout"

for m in $(cat /mod/kvm.list); do
    args=
    case $m in kvm-amd.ko) args="npt=${svm_npt:-1}" ;; esac
    insmod /mod/$m $args || fail "insmod $m $args"
done
[ -c /dev/kvm ] || fail "no /dev/kvm after loading kvm_amd"
echo "svm-guest: kvm_amd loaded, npt=$(cat /sys/module/kvm_amd/parameters/npt)"

for d in tmp var/tmp run; do
    mount -t tmpfs -o mode=1777 tmpfs /host/$d || fail "tmpfs on /$d"
done
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mkdir -p /host/tmp/svm-out
mount -o bind /out /host/tmp/svm-out
ip link set lo up

# switch_root, not chroot: in a chroot unshare(CLONE_NEWUSER) is EPERM
# (the root must be its mount namespace's root), and the sentry confines
# itself in a user namespace. /tmp/svm-out (the bind of /out) comes along.
exec switch_root /host /bin/sh -c \
    '/bin/sh /tmp/svm-out/job.sh 2>&1 | tee /tmp/svm-out/output; sync; /bin/busybox poweroff -f'

