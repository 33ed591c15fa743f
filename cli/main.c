/*
 * main.c: coffer, the command-line client of Coffer (see cli.h).
 */
#include "cli.h"

int
main(int argc, char **argv)
{

	return (cli_main(argc, argv));
}
