/* hasyncctl.c: the control tool for hasyncd (also installed as `ipsec ha`); the work is in ctl_client.c. */
#include <stdio.h>

#include "ctl.h"

int main(int argc, char **argv)
{
	return ctl_client_main(argc, argv, stdout, stderr);
}
