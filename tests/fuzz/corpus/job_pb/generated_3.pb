
inv-00000003tim"e
AntÃ´nia Pereira Souza+5584976520776antonia.souza43@example.com"36282755557:America/Fortaleza*
H€÷­ü¢4R…
FAT-202612-00000003ª‰BRL"
2026-12-22*/07792968625788043851033528293559316680000017578:($faturas/tim/2026-12/inv-00000003.pdf 