# gdb script of the clients-gdb suite (run on the host by tests/host/clients-gdb
# after 'file' and 'target remote'). At each stop in gdb_stop() of
# fsgs_gdb_target: print what gdb reads and what the target recorded, do
# what the target's 'act' asks (writes with 'set', an inferior 'call'), and
# continue. Every line the host checks starts with '@@GDB'; any gdb error
# ends the script early and the missing lines fail the suite.
set pagination off
set confirm off
set width 0
break gdb_stop
continue
printf "@@GDB ncases %d fsgsbase %d\n", ncases, fsgs
set $i = 0
while $i < ncases
  printf "@@GDB stop %s\n", case_name
  printf "@@GDB read %s fs=%#lx fs_base=%#lx gs=%#lx gs_base=%#lx\n", case_name, $fs, $fs_base, $gs, $gs_base
  printf "@@GDB rec %s fs=%#lx fs_base=%#lx gs=%#lx gs_base=%#lx\n", case_name, rec.fs, rec.fs_base, rec.gs, rec.gs_base
  if act & 4
    set $fs = wr.fs
  end
  if act & 8
    set $gs = wr.gs
  end
  if act & 1
    set $fs_base = wr.fs_base
  end
  if act & 2
    set $gs_base = wr.gs_base
  end
  if act & 16
    printf "@@GDB call %s probe(20)=%ld\n", case_name, probe(20)
    printf "@@GDB incall %s fs=%#lx fs_base=%#lx gs=%#lx gs_base=%#lx\n", case_name, in_call.fs, in_call.fs_base, in_call.gs, in_call.gs_base
    printf "@@GDB aftercall %s fs=%#lx fs_base=%#lx gs=%#lx gs_base=%#lx\n", case_name, $fs, $fs_base, $gs, $gs_base
  end
  printf "@@GDB wrote %s act=%d\n", case_name, act
  set $i = $i + 1
  continue
end
