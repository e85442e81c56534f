/*
 * Proof program for the patch series, built for i386 inside the i386 tree and
 * run in the test VM. It registers a PCI driver that needs its BARs mapped,
 * for QEMU's edu (1234:11e8) and ivshmem (1af4:1110) devices, and reports what
 * DPDK gave it:
 *
 *   config  edu: reads config space at 0x00 and 0x2c with rte_pci_read_config(),
 *           whose off_t parameter is 64 bits wide in the library.
 *   bars    ivshmem: which BARs DPDK mapped (BAR2 is 4 GiB in the proof VM),
 *           through VFIO or UIO, whichever the device is bound to.
 *   nomap   edu, with a driver that does not ask DPDK to map the device (no
 *           RTE_PCI_DRV_NEED_MAPPING): reads config space at 0x00 with
 *           rte_pci_read_config(). The device has no file open then; the
 *           proof runs with standard input redirected from a file of markers
 *           to show whether DPDK reads it instead.
 *   sizes   no EAL: prints the sizes of the large-file types the program was
 *           compiled with (off_t, ino_t, struct stat).
 *
 * Usage: pci_proof config|bars|nomap EAL-ARGS...  or  pci_proof sizes
 * Prints "PROOF ..." lines for the test to check; exits 0 when a device was probed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <rte_eal.h>
#include <rte_bus_pci.h>
#include <bus_pci_driver.h>

static int probed;
static int mode_config;
static int mode_nomap;

/* Leaves a marker in the stack slot just past four 32-bit arguments, where a
 * callee expecting a 64-bit fourth argument reads its upper half. */
__attribute__((noinline)) static int
poison(int a, int b, int c, int d, unsigned int e)
{
	return a + b + c + d + (int)e;
}

static int
proof_probe(struct rte_pci_driver *drv, struct rte_pci_device *dev)
{
	(void)drv;
	probed = 1;
	printf("PROOF sizeof(off_t)=%zu\n", sizeof(off_t));
	if (mode_nomap) {
		uint32_t word = 0;
		int rc = rte_pci_read_config(dev, &word, sizeof(word), 0x00);

		printf("PROOF nomap config[0x00]=0x%08" PRIx32 " rc=%d\n", word, rc);
		return 0;
	}
	if (mode_config) {
		uint32_t id = 0, subsys = 0;
		int r1, r2;

		poison(0, 0, 0, 0, 0xdeadbeef);
		r1 = rte_pci_read_config(dev, &id, sizeof(id), 0x00);
		poison(0, 0, 0, 0, 0xdeadbeef);
		r2 = rte_pci_read_config(dev, &subsys, sizeof(subsys), 0x2c);
		printf("PROOF config[0x00]=0x%08" PRIx32 " rc=%d config[0x2c]=0x%08" PRIx32 " rc=%d\n",
		       id, r1, subsys, r2);
		return 0;
	}
	for (int i = 0; i < 6; i++)
		printf("PROOF BAR%d addr=%s len=0x%" PRIx64 "\n", i,
		       dev->mem_resource[i].addr ? "mapped" : "none", dev->mem_resource[i].len);
	if (dev->mem_resource[0].addr != NULL) {
		/* ivshmem register 0 is the interrupt mask: readable. */
		volatile uint32_t *regs = dev->mem_resource[0].addr;
		printf("PROOF BAR0[0]=0x%08" PRIx32 "\n", regs[0]);
	}
	return 0;
}

static int
proof_remove(struct rte_pci_device *dev)
{
	(void)dev;
	return 0;
}

static const struct rte_pci_id proof_ids[] = {
	{ RTE_PCI_DEVICE(0x1234, 0x11e8) },
	{ RTE_PCI_DEVICE(0x1af4, 0x1110) },
	{ .vendor_id = 0 },
};

static struct rte_pci_driver proof_driver = {
	.id_table = proof_ids,
	.drv_flags = RTE_PCI_DRV_NEED_MAPPING,
	.probe = proof_probe,
	.remove = proof_remove,
};

RTE_PMD_REGISTER_PCI(net_dpdk_rs_proof, proof_driver);

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "sizes") == 0) {
		printf("PROOF sizes off_t=%zu ino_t=%zu struct_stat=%zu\n",
		       sizeof(off_t), sizeof(ino_t), sizeof(struct stat));
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "config") != 0 && strcmp(argv[1], "bars") != 0 &&
			 strcmp(argv[1], "nomap") != 0)) {
		fprintf(stderr, "usage: %s config|bars|nomap EAL-ARGS... | sizes\n", argv[0]);
		return 2;
	}
	mode_config = strcmp(argv[1], "config") == 0;
	mode_nomap = strcmp(argv[1], "nomap") == 0;
	/* Registered already (a constructor), but not probed before rte_eal_init(). */
	if (mode_nomap)
		proof_driver.drv_flags = 0;
	argv[1] = argv[0];
	int ret = rte_eal_init(argc - 1, argv + 1);
	printf("PROOF rte_eal_init=%d probed=%d\n", ret, probed);
	if (ret >= 0)
		rte_eal_cleanup();
	return probed ? 0 : 1;
}
