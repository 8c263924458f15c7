/* carteiro: invoice delivery. The subcommands live in src/cli/. */
#include "cli/cli.h"

int main(int argc, char **argv) { return ct_cli_main(argc, argv); }
